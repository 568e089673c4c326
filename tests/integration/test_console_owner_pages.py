"""The console's owner pages (operators, audit trail, settings) and its shipping (the order's
shipment and its form, the "to ship" queue), over HTTP in-process, on every backend: the same
service functions as the /api/v1/admin endpoints, roles checked on the server, CSRF on every form."""

from __future__ import annotations

import re

from pydantic import SecretStr

from silverpay.service.settings_view import without_password
from tests.console import signed_in
from tests.integration.test_console_pages import csrf_in, paid_order
from tests.service_harness import ADMIN, Harness


def _secrets(svc: Harness) -> list[str]:
    values = [getattr(svc.settings, name) for name in type(svc.settings).model_fields]
    found = [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]
    assert len(found) >= 4  # demo mode sets the WeChat secrets, the admin token, the JWT secret…
    return found


async def test_settings_show_every_value_but_no_secret(svc: Harness) -> None:
    answer = await svc.api.get("/api/v1/admin/settings", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    rows = {row["name"]: row for row in answer.json()}
    assert rows["wechat_appid"]["value"] == svc.settings.wechat_appid and rows["wechat_appid"]["secret"] is False
    assert rows["wechat_api_key"] == {"group": "wechat", "name": "wechat_api_key", "env": "SILVERPAY_WECHAT_API_KEY",
                                      "value": "set", "secret": True}  # fmt: skip
    assert rows["notify_url"]["value"] == svc.settings.notify_url
    assert rows["effective_db_pool_size"]["value"] == svc.settings.pool().size
    assert {row["group"] for row in rows.values()} == {"service", "wechat", "database", "worker", "shipping",
                                                       "console"}  # fmt: skip
    async with signed_in(svc, "owner") as owner, signed_in(svc, "finance") as finance:
        page = await owner.get("/console/settings")
        assert page.status_code == 200 and "SILVERPAY_WECHAT_MCH_ID" in page.text
        assert svc.settings.wechat_mch_id in page.text
        assert (await finance.get("/console/settings")).status_code == 403
        assert (await finance.get("/api/v1/admin/settings")).status_code == 403
    for secret in _secrets(svc):
        assert secret not in answer.text and secret not in page.text


def test_a_database_url_shows_without_its_password() -> None:
    shown = without_password("postgresql+asyncpg://shop:hunter2hunter2@db.internal:5432/shop")
    assert "hunter2" not in shown and shown.startswith("postgresql+asyncpg://shop:***@db.internal")
    assert without_password("sqlite+aiosqlite:///./silverpay.db") == "sqlite+aiosqlite:///./silverpay.db"


async def test_the_owner_adds_changes_and_disables_an_operator(svc: Harness) -> None:
    async with signed_in(svc, "owner") as owner:
        page = await owner.get("/console/operators")
        assert page.status_code == 200 and owner.email in page.text
        csrf = csrf_in(page.text)
        form = {"csrf_token": csrf, "email": "clerk@shop.example", "role": "support", "password": "short"}
        short = await owner.client.post("/console/operators", data=form, headers={"HX-Request": "true"})
        assert short.status_code == 400 and "password" in short.text and "<html" not in short.text
        made = await owner.client.post("/console/operators", data={**form, "password": "a long password"})
        assert made.status_code == 303 and made.headers["location"] == "/console/operators"
        listed = {a["email"]: a for a in (await owner.get("/api/v1/admin/operators")).json()}
        clerk = listed["clerk@shop.example"]
        assert clerk["role"] == "support" and clerk["disabled"] is False
        no_csrf = await owner.client.post(f"/console/operators/{clerk['id']}", data={"role": "finance"})
        assert no_csrf.status_code == 403
        changed = await owner.client.post(f"/console/operators/{clerk['id']}", data={"csrf_token": csrf,
                                                                                     "role": "finance"})  # fmt: skip
        assert changed.status_code == 303
        disabled = await owner.client.post(f"/console/operators/{clerk['id']}",
                                           data={"csrf_token": csrf, "role": "finance", "disabled": "1"},
                                           headers={"HX-Request": "true"})  # fmt: skip
        assert disabled.status_code == 200 and "已停用" in disabled.text
        own = await owner.client.post(f"/console/operators/{owner.operator_id}", data={"csrf_token": csrf,
                                                                                       "role": "viewer"})  # fmt: skip
        assert own.status_code == 409
        account = (await owner.get(f"/api/v1/admin/operators/{clerk['id']}")).json()
        assert account["role"] == "finance" and account["disabled"] is True
        trail = await owner.get("/console/audit")
        assert trail.status_code == 200 and "operator.create" in trail.text and "operator.update" in trail.text
        assert f"operator:{clerk['id']}" in trail.text and "127.0.0.1" in trail.text
    async with signed_in(svc, "finance") as finance:
        assert (await finance.get("/console/operators")).status_code == 403
        assert (await finance.get("/console/audit")).status_code == 403
        nav = (await finance.get("/console/orders")).text
        assert "/console/shipments" in nav and "/console/operators" not in nav


async def test_the_audit_page_pages_back(svc: Harness) -> None:
    for n in range(52):  # more than a page of product changes
        made = await svc.api.post("/api/v1/admin/products", json={"name": f"tea {n}", "price_fen": 100}, headers=ADMIN)
        assert made.status_code == 201
    async with signed_in(svc, "owner") as owner:
        first = await owner.get("/console/audit")
        older = re.search(r'href="(/console/audit\?before=\d+)"', first.text)
        # 53 actions in all: the products, then the owner's own account; fifty a page, newest first.
        assert older and first.text.count("operator.create") == 1 and first.text.count("product.create") == 49
        second = await owner.get(older.group(1))
        assert second.text.count("product.create") == 3 and "operator.create" not in second.text
        assert "/console/audit?before=" not in second.text and 'href="/console/audit"' in second.text


async def test_support_ships_from_the_order_page_and_confirms_the_last_reship(svc: Harness) -> None:
    order = await paid_order(svc)
    async with signed_in(svc, "viewer") as viewer:
        page = await viewer.get(f"/console/orders/{order['id']}")
        assert "未发货" in page.text and f"/console/orders/{order['id']}/ship" not in page.text
        refused = await viewer.client.post(f"/console/orders/{order['id']}/ship",
                                           data={"csrf_token": csrf_in(page.text), "logistics_type": "4",
                                                 "item_desc": "tea"})  # fmt: skip
        assert refused.status_code == 403
    async with signed_in(svc, "support") as support:
        page = await support.get(f"/console/orders/{order['id']}")
        assert f'action="/console/orders/{order["id"]}/ship"' in page.text and "use_last_reship" not in page.text
        form = {"csrf_token": csrf_in(page.text), "logistics_type": "4", "item_desc": "Pour-over kit"}
        shipped = await support.client.post(f"/console/orders/{order['id']}/ship", data=form)
        assert shipped.status_code == 303, shipped.text
        detail = await svc.admin_order(order["id"])
        assert detail["shipment"]["state"] == "SHIPPED" and detail["shipment"]["requested_by"] == support.email
        [action] = [e["detail"] for e in detail["events"] if e["kind"] == "operator.ship"]
        assert action["operator_id"] == support.operator_id and action["role"] == "support"
        page = await support.get(f"/console/orders/{order['id']}")
        assert "已发货" in page.text and "Pour-over kit" in page.text and 'name="use_last_reship"' in page.text
        change = {**form, "item_desc": "Pour-over kit and filters"}
        warned = await support.client.post(f"/console/orders/{order['id']}/ship", data=change,
                                           headers={"HX-Request": "true"})  # fmt: skip
        assert warned.status_code == 409 and "use_last_reship" in warned.text
        confirmed = await support.client.post(f"/console/orders/{order['id']}/ship",
                                              data={**change, "use_last_reship": "1"})  # fmt: skip
        assert confirmed.status_code == 303
        after = (await svc.admin_order(order["id"]))["shipment"]
        assert after["reships_left"] == 0 and after["parcels"][0]["item_desc"] == "Pour-over kit and filters"
        page = await support.get(f"/console/orders/{order['id']}")
        assert f'action="/console/orders/{order["id"]}/ship"' not in page.text  # no change left to make


async def test_the_to_ship_page_puts_overdue_orders_first(svc: Harness) -> None:
    shipped, late = await paid_order(svc), await paid_order(svc)  # paid in this order
    svc.clock.offset += 25 * 3600
    body = {"logistics_type": 4, "parcels": [{"item_desc": "tea"}]}
    assert (await svc.api.post(f"/api/v1/admin/orders/{shipped['id']}/shipments", json=body,
                               headers=ADMIN)).status_code == 201  # fmt: skip
    async with signed_in(svc, "viewer") as viewer:
        page = await viewer.get("/console/shipments")
        assert page.status_code == 200
        rows = re.findall(r'<tr data-out-trade-no="([^"]+)"( class="late")?', page.text)
        assert rows == [(late["out_trade_no"], ' class="late"'), (shipped["out_trade_no"], "")]
        shipped_only = await viewer.get("/console/shipments?state=SHIPPED", headers={"HX-Request": "true"})
        assert late["out_trade_no"] not in shipped_only.text and "<html" not in shipped_only.text
