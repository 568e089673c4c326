"""The console's pages and actions over HTTP (in-process): sign-in, roles, CSRF, and that the pages
show what the service knows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from silverpay.beijing import BEIJING
from tests.console import PASSWORD, client, create_operator, signed_in
from tests.notify_bodies import notification
from tests.service_harness import Harness
from tests.waiting import eventually


async def paid_order(svc: Harness, price_fen: int = 1000) -> dict[str, Any]:
    alice = await svc.shopper()
    order = await svc.paid_order(alice, price_fen=price_fen)

    async def settled() -> bool:
        return (await svc.get(alice, order["id"]))["status"] == "PAID"

    await eventually(settled)
    return order


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def console_login(c: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await c.get("/console/login?next=/console/products")
    assert form.status_code == 200
    return await c.post("/console/login", data={"email": email, "password": password, "next": "/console/products",
                                                "csrf_token": csrf_in(form.text)})  # fmt: skip


async def test_pages_need_a_session_and_sign_in_leads_back(svc: Harness) -> None:
    account = await create_operator(svc, "viewer")
    async with client(svc) as c:
        away = await c.get("/console/products")
        assert away.status_code == 303 and away.headers["location"] == "/console/login?next=/console/products"
        assert (await c.get("/")).headers["location"] == "/console/"
        wrong = await console_login(c, account["email"], "not the password")
        assert wrong.status_code == 401 and "wrong email or password" in wrong.text
        ok = await console_login(c, account["email"])
        assert ok.status_code == 303 and ok.headers["location"] == "/console/products"
        page = await c.get("/console/products")
        assert page.status_code == 200 and "商品" in page.text and account["email"] in page.text
        assert "Pour-over coffee" in page.text and "¥18.00" in page.text
        out = await c.post("/console/logout", data={"csrf_token": csrf_in(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login?signed_out=1"
        assert (await c.get("/console/products")).status_code == 303


async def test_login_form_without_its_csrf_token_is_refused(svc: Harness) -> None:
    account = await create_operator(svc, "viewer")
    async with client(svc) as c:
        response = await c.post("/console/login", data={"email": account["email"], "password": PASSWORD})
        assert response.status_code == 403 and "silverpay_session" not in response.headers.get("set-cookie", "")


async def test_finance_refunds_a_viewer_cannot(svc: Harness) -> None:
    order = await paid_order(svc)
    async with signed_in(svc, "viewer") as viewer:
        page = await viewer.get(f"/console/orders/{order['id']}")
        assert page.status_code == 200 and order["out_trade_no"] in page.text
        assert "¥10.00" in page.text and 'action="/console/orders/' + str(order["id"]) + '/refund"' not in page.text
        assert "data-refused" in page.text
        form = {"csrf_token": csrf_in(page.text), "amount": "1.00", "reason": "x"}
        refused = await viewer.client.post(f"/console/orders/{order['id']}/refund", data=form)
        assert refused.status_code == 403
    async with signed_in(svc, "finance") as finance:
        page = await finance.get(f"/console/orders/{order['id']}")
        form = {"csrf_token": csrf_in(page.text), "amount": "3.50", "reason": "damaged cup"}
        no_csrf = await finance.client.post(f"/console/orders/{order['id']}/refund", data={**form, "csrf_token": "x"})
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        no_reason = await finance.client.post(f"/console/orders/{order['id']}/refund", data={**form, "reason": " "},
                                              headers={"HX-Request": "true"})  # fmt: skip
        assert no_reason.status_code == 400 and "reason" in no_reason.text and "<html" not in no_reason.text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
        assert key is not None
        form["idempotency_key"] = key.group(1)
        done = await finance.client.post(f"/console/orders/{order['id']}/refund", data=form)
        assert done.status_code == 303
        twice = await finance.client.post(f"/console/orders/{order['id']}/refund", data=form)  # a double click
        assert twice.status_code == 303
    detail = await svc.admin_order(order["id"])
    assert [(r["amount_fen"], r["reason"]) for r in detail["refunds"]] == [(350, "damaged cup")]


async def test_support_requeries_and_closes_finance_resolves(svc: Harness) -> None:
    alice = await svc.shopper()
    unpaid = await svc.order(alice)
    order = await paid_order(svc)
    second = notification(order["out_trade_no"], order["amount_fen"], transaction_id="4200000000202611290000000099")
    assert (await svc.api.post("/api/v1/wechat/notify", content=second)).status_code == 200
    async with signed_in(svc, "support") as support:
        page = await support.get(f"/console/orders/{order['id']}")
        assert (
            "待复核" in page.text
            and "/resolve" not in page.text
            and "finance" not in page.text.split("data-refused")[0]
        )
        csrf = {"csrf_token": csrf_in(page.text)}
        again = await support.client.post(f"/console/orders/{order['id']}/requery", data=csrf,
                                          headers={"HX-Request": "true"})  # fmt: skip
        assert again.status_code == 200 and "operator.requery" in again.text and "<html" not in again.text
        closed = await support.client.post(f"/console/orders/{unpaid['id']}/close", data=csrf)
        assert closed.status_code == 303 and closed.headers["location"] == f"/console/orders/{unpaid['id']}?done=1"
        refused = await support.client.post(f"/console/orders/{order['id']}/resolve", data={**csrf, "note": "x"})
        assert refused.status_code == 403
    assert (await svc.get(alice, unpaid["id"]))["status"] == "CLOSED"
    async with signed_in(svc, "finance") as finance:
        page = await finance.get(f"/console/orders/{order['id']}")
        csrf = {"csrf_token": csrf_in(page.text)}
        empty = await finance.client.post(f"/console/orders/{order['id']}/resolve", data={**csrf, "note": ""})
        assert empty.status_code == 400
        done = await finance.client.post(f"/console/orders/{order['id']}/resolve",
                                         data={**csrf, "note": "WeChat refunds the duplicate"})  # fmt: skip
        assert done.status_code == 303
        after = await finance.get(done.headers["location"])
        assert "operator.review_resolve" in after.text and "WeChat refunds the duplicate" in after.text
    assert (await svc.admin_order(order["id"]))["needs_review"] is False


async def test_orders_search_filters_pages_and_totals(svc: Harness) -> None:
    first = await paid_order(svc, price_fen=1000)
    second = await paid_order(svc, price_fen=2550)
    alice = await svc.shopper()
    unpaid = await svc.order(alice, price_fen=700)
    async with signed_in(svc, "viewer") as viewer:
        everything = await viewer.get("/console/orders")
        assert everything.status_code == 200
        assert all(o["out_trade_no"] in everything.text for o in (first, second, unpaid))
        assert "<strong>3</strong>" in everything.text and "¥42.50" in everything.text and "¥35.50" in everything.text
        one = await viewer.get("/console/orders", params={"q": second["out_trade_no"]}, headers={"HX-Request": "true"})
        assert "<html" not in one.text and second["out_trade_no"] in one.text and first["out_trade_no"] not in one.text
        paid = await viewer.get("/console/orders", params={"status": "PAID", "min_yuan": "20", "max_yuan": "30"})
        assert second["out_trade_no"] in paid.text and first["out_trade_no"] not in paid.text
        assert unpaid["out_trade_no"] not in paid.text
        bad = await viewer.get("/console/orders", params={"min_yuan": "1.234"})
        assert bad.status_code == 200 and "two decimals" in bad.text
        review = await viewer.get("/console/orders", params={"needs_review": "1"})
        assert "没有符合条件的订单" in review.text


async def test_lists_review_refunds_notifications_health(svc: Harness) -> None:
    order = await paid_order(svc)
    second = notification(order["out_trade_no"], order["amount_fen"], transaction_id="4200000000202611290000000098")
    assert (await svc.api.post("/api/v1/wechat/notify", content=second)).status_code == 200
    forged = notification(order["out_trade_no"], order["amount_fen"], key="WrongKeyWrongKeyWrongKeyWrongKey")
    assert (await svc.api.post("/api/v1/wechat/notify", content=forged)).status_code == 400
    assert (await svc.refund(order["id"], 100)).status_code == 201
    async with signed_in(svc, "viewer") as viewer:
        review = await viewer.get("/console/review")
        assert order["out_trade_no"] in review.text and "second transaction" in review.text
        refunds_page = await viewer.get("/console/refunds")
        assert order["out_trade_no"] in refunds_page.text and "¥1.00" in refunds_page.text
        stale = await viewer.get("/console/refunds", params={"status": "stale"})
        assert order["out_trade_no"] not in stale.text
        rejected = await viewer.get("/console/notifications")
        assert 'data-code="SIGNATURE_INVALID"' in rejected.text or "SIGN" in rejected.text
        health = await viewer.get("/console/health")
        assert health.status_code == 200 and "ok" in health.text and "/metrics" in health.text
        recon = await viewer.get("/console/reconciliation")
        assert recon.status_code == 200 and 'action="/console/reconciliation/run"' not in recon.text


async def test_products_by_the_owner_only(svc: Harness) -> None:
    async with signed_in(svc, "finance") as finance:
        page = await finance.get("/console/products")
        assert 'action="/console/products"' not in page.text
        refused = await finance.client.post("/console/products", data={"csrf_token": csrf_in(page.text), "name": "x",
                                                                        "price": "1.00"})  # fmt: skip
        assert refused.status_code == 403
    async with signed_in(svc, "owner") as owner:
        page = await owner.get("/console/products")
        csrf = {"csrf_token": csrf_in(page.text)}
        made = await owner.client.post("/console/products", data={**csrf, "name": "Oolong tea", "price": "12.30"})
        assert made.status_code == 303
        listed = await svc.api.get("/api/v1/products")
        tea = next(p for p in listed.json() if p["name"] == "Oolong tea")
        assert tea["price_fen"] == 1230
        bad = await owner.client.post("/console/products", data={**csrf, "name": "x", "price": "12.345"},
                                      headers={"HX-Request": "true"})  # fmt: skip
        assert bad.status_code == 400 and "two decimals" in bad.text
        priced = await owner.client.post(f"/console/products/{tea['id']}", data={**csrf, "price": "13.00"})
        off = await owner.client.post(f"/console/products/{tea['id']}", data={**csrf, "active": "0"})
        assert priced.status_code == off.status_code == 303
    listed = (await svc.api.get("/api/v1/products")).json()
    assert all(p["name"] != "Oolong tea" for p in listed)  # inactive: not offered to shoppers


async def test_finance_reruns_a_days_reconciliation(svc: Harness) -> None:
    await paid_order(svc)
    await svc.advance(86400)  # the payment's day is over: WeChat has its bill
    yesterday = (datetime.fromtimestamp(svc.clock(), BEIJING).date() - timedelta(days=1)).isoformat()
    async with signed_in(svc, "viewer") as viewer:
        page = await viewer.get("/console/reconciliation")
        refused = await viewer.client.post("/console/reconciliation/run",
                                           data={"csrf_token": csrf_in(page.text), "date": yesterday})  # fmt: skip
        assert refused.status_code == 403
    async with signed_in(svc, "finance") as finance:
        page = await finance.get("/console/reconciliation")
        csrf = {"csrf_token": csrf_in(page.text)}
        today = await finance.client.post("/console/reconciliation/run",
                                          data={**csrf, "date": datetime.fromtimestamp(svc.clock(), BEIJING)
                                                .date().isoformat()}, headers={"HX-Request": "true"})  # fmt: skip
        assert today.status_code == 400 and "before today" in today.text
        ran = await finance.client.post("/console/reconciliation/run", data={**csrf, "date": yesterday})
        assert ran.status_code == 303 and ran.headers["location"].startswith("/console/reconciliation?run=")
        shown = await finance.get(ran.headers["location"])
        assert f">{yesterday}</a>" in shown.text and "s-CLEAN" in shown.text


async def test_an_idle_session_leads_back_to_sign_in_and_errors_are_pages(svc: Harness) -> None:
    async with signed_in(svc, "viewer") as viewer:
        missing = await viewer.get("/console/orders/987654")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert "ORDER_NOT_FOUND" in missing.text
        beyond = await viewer.get(f"/console/orders/{2**64}")
        assert beyond.status_code == 404 and beyond.headers["content-type"].startswith("text/html")
        assert (await viewer.get("/console/reconciliation?run=0")).status_code == 422
        await svc.advance(3 * 3600)  # past the idle timeout
        ended = await viewer.get("/console/orders")
        assert ended.status_code == 303 and ended.headers["location"] == "/console/login?next=/console/orders&expired=1"
        htmx = await viewer.get("/console/orders", headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["hx-redirect"].startswith("/console/login?next=/console/orders")
        page = await viewer.get(ended.headers["location"])
        assert "会话已结束" in page.text


async def test_repeated_failed_sign_ins_lock_with_a_clear_message(svc: Harness) -> None:
    account = await create_operator(svc, "viewer")
    async with client(svc) as c:
        answers = [await console_login(c, account["email"], "wrong password!") for _ in range(5)]
        assert [a.status_code for a in answers[:4]] == [401] * 4
        locked = answers[4]
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert "too many failed sign-ins" in locked.text
        still = await console_login(c, account["email"])  # the right password does not open the lock early
        assert still.status_code == 429 and "silverpay_session" not in still.headers.get("set-cookie", "")
