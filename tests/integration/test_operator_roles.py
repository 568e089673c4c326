"""Roles on every operator route, and the record of every operator action, on every backend."""

from __future__ import annotations

import uuid
from typing import Any

from silverpay.clock import utc
from silverpay.domain.operators import Role
from tests.console import signed_in
from tests.integration.test_service_refunds import paid
from tests.service_harness import ADMIN, Harness
from tests.waiting import eventually

MISSING = 999999
# (method, path, body, least role). Ids name nothing: an admitted role gets 404 (or 2xx), never 403.
ROUTES: list[tuple[str, str, Any, Role]] = [
    ("GET", f"/api/v1/admin/orders/{MISSING}", None, Role.VIEWER),
    ("GET", "/api/v1/admin/products", None, Role.VIEWER),
    ("GET", "/api/v1/admin/reconciliations", None, Role.VIEWER),
    ("GET", f"/api/v1/admin/reconciliations/{MISSING}", None, Role.VIEWER),
    ("GET", "/api/v1/admin/orders?q=x", None, Role.VIEWER),
    ("GET", "/api/v1/admin/review-queue", None, Role.VIEWER),
    ("GET", "/api/v1/admin/refunds?status=stale", None, Role.VIEWER),
    ("GET", "/api/v1/admin/notifications/rejected", None, Role.VIEWER),
    ("GET", "/api/v1/admin/health", None, Role.VIEWER),
    ("POST", "/api/v1/admin/reconciliations", {"date": "2000-01-01"}, Role.FINANCE),
    ("POST", f"/api/v1/admin/orders/{MISSING}/requery", None, Role.SUPPORT),
    ("POST", f"/api/v1/admin/orders/{MISSING}/close", None, Role.SUPPORT),
    ("POST", f"/api/v1/admin/refunds/{MISSING}/resend", None, Role.SUPPORT),
    ("POST", f"/api/v1/admin/orders/{MISSING}/refunds", {"amount_fen": 1, "reason": "x"}, Role.FINANCE),
    ("POST", f"/api/v1/admin/orders/{MISSING}/review/resolve", {"note": "checked"}, Role.FINANCE),
    ("POST", "/api/v1/admin/products", {"name": "tea", "price_fen": 100}, Role.OWNER),
    ("PATCH", f"/api/v1/admin/products/{MISSING}", {"price_fen": 5}, Role.OWNER),
    ("GET", "/api/v1/admin/operators", None, Role.OWNER),
    ("GET", f"/api/v1/admin/operators/{MISSING}", None, Role.OWNER),
    ("PATCH", f"/api/v1/admin/operators/{MISSING}", {"role": "viewer"}, Role.OWNER),
    ("POST", "/api/v1/admin/operators", "new-operator", Role.OWNER),
    ("GET", "/api/v1/admin/audit", None, Role.OWNER),
]


def _body(body: Any) -> Any:
    if body == "new-operator":
        return {"email": f"{uuid.uuid4().hex[:8]}@shop.example", "role": "viewer", "password": "a long password"}
    return body


async def test_every_route_admits_its_role_and_above_and_refuses_the_rest(svc: Harness) -> None:
    refused: list[str] = []
    for role in Role:
        async with signed_in(svc, role.label) as person:
            for method, path, body, least in ROUTES:
                response = await person.send(method, path, json=_body(body))
                forbidden = response.status_code == 403
                if role >= least and forbidden:
                    refused.append(f"{role.label} refused {method} {path}: {response.text}")
                if role < least and not (forbidden and response.json()["error"]["code"] == "FORBIDDEN"):
                    refused.append(f"{role.label} admitted to {method} {path}: {response.status_code}")
                assert response.status_code < 500, response.text
    # The machine token is the owner: admitted everywhere.
    for method, path, body, _ in ROUTES:
        response = await svc.api.request(method, path, json=_body(body), headers=ADMIN)
        assert response.status_code != 403, f"{method} {path}"
    assert refused == []


async def test_a_viewer_is_refused_a_refund_and_nothing_happens(svc: Harness) -> None:
    _, order = await paid(svc)
    async with signed_in(svc, "viewer") as viewer, signed_in(svc, "support") as support:
        for person in (viewer, support):
            response = await person.send("POST", f"/api/v1/admin/orders/{order['id']}/refunds",
                                         json={"amount_fen": 100, "reason": "broken cup"})  # fmt: skip
            assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
        detail = (await viewer.get(f"/api/v1/admin/orders/{order['id']}")).json()
    assert detail["refunds"] == [] and detail["refundable_fen"] == 1000
    assert not [e for e in detail["events"] if e["kind"].startswith("operator.")]


def _actions(detail: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in detail["events"] if e["kind"] == kind]


async def test_a_refund_by_finance_is_in_the_order_timeline_with_who_and_where(svc: Harness) -> None:
    _, order = await paid(svc)
    async with signed_in(svc, "finance") as finance:
        response = await finance.send("POST", f"/api/v1/admin/orders/{order['id']}/refunds",
                                      json={"amount_fen": 300, "reason": "broken cup"})  # fmt: skip
        assert response.status_code == 201, response.text
        detail = (await finance.get(f"/api/v1/admin/orders/{order['id']}")).json()
    [action] = _actions(detail, "operator.refund")
    assert action == {"operator_id": finance.operator_id, "operator": finance.email, "role": "finance",
                      "ip": "127.0.0.1", "out_refund_no": response.json()["out_refund_no"], "amount_fen": 300,
                      "reason": "broken cup"}  # fmt: skip
    assert detail["refundable_fen"] == 700
    # The machine token is named as such.
    await svc.refund(order["id"], 100)
    machine = _actions(await svc.admin_order(order["id"]), "operator.refund")[-1]
    assert machine["operator"] == "admin-token" and machine["operator_id"] is None and machine["role"] == "owner"


async def test_support_requeries_and_closes(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    await svc.pay_params(alice, order["id"])  # PAYING at WeChat, unpaid
    async with signed_in(svc, "support") as support:
        requeried = await support.send("POST", f"/api/v1/admin/orders/{order['id']}/requery")
        assert requeried.status_code == 200, requeried.text
        assert _actions(requeried.json(), "operator.requery")[0]["operator"] == support.email
        assert any(e["kind"] == "wechat.query" and e["detail"]["source"] == "operator"
                   for e in requeried.json()["events"])  # fmt: skip
        closed = await support.send("POST", f"/api/v1/admin/orders/{order['id']}/close")
        assert closed.status_code == 200 and closed.json()["status"] == "CLOSED"
        assert _actions(closed.json(), "operator.close")[0]["operator_id"] == support.operator_id
        assert {"from": "PAYING", "to": "CLOSED", "source": "operator"} in _actions(closed.json(), "status")
        again = await support.send("POST", f"/api/v1/admin/orders/{order['id']}/close")
        assert again.status_code == 409 and again.json()["error"]["code"] == "ORDER_CLOSED"
        assert len(_actions((await support.get(f"/api/v1/admin/orders/{order['id']}")).json(), "operator.close")) == 1


async def test_finance_resolves_a_review_flag_with_a_note(svc: Harness) -> None:
    _, order = await paid(svc)
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.ledger.transaction() as tx:
        row = await tx.lock(order["id"])
        assert row is not None
        await tx.flag(row, "WeChat reports 999 fen, order is 1000", now=utc(ctx.clock()))
    async with signed_in(svc, "finance") as finance:
        resolved = await finance.send("POST", f"/api/v1/admin/orders/{order['id']}/review/resolve",
                                      json={"note": "called WeChat support"})  # fmt: skip
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["needs_review"] is False and resolved.json()["review_reason"] == ""
        [action] = _actions(resolved.json(), "operator.review_resolve")
        assert action["note"] == "called WeChat support" and action["reason"].startswith("WeChat reports 999")
        again = await finance.send("POST", f"/api/v1/admin/orders/{order['id']}/review/resolve", json={"note": "x"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "ORDER_NOT_FLAGGED"


async def test_support_resends_a_refund_until_it_is_settled(svc: Harness) -> None:
    _, order = await paid(svc)
    await svc.faults(refund_delay_s=3600)  # accepted, PROCESSING until WeChat's clock moves an hour
    created = await svc.refund(order["id"], 200)
    refund_id = created.json()["id"]
    async with signed_in(svc, "support") as support:
        response = await support.send("POST", f"/api/v1/admin/refunds/{refund_id}/resend")
        assert response.status_code == 200, response.text
        assert response.json()["out_refund_no"] == created.json()["out_refund_no"]
        detail = (await support.get(f"/api/v1/admin/orders/{order['id']}")).json()
        assert _actions(detail, "operator.resend")[0]["out_refund_no"] == created.json()["out_refund_no"]
        assert any(e["kind"] == "wechat.refund_query" for e in detail["events"])
        await svc.advance(3601)

        async def settled() -> bool:
            return (await svc.admin_order(order["id"]))["refunds"][0]["status"] == "SUCCESS"

        await eventually(settled)
        assert (await support.get("/api/v1/admin/session")).status_code == 401  # an hour idle: signed out
    final = await svc.api.post(f"/api/v1/admin/refunds/{refund_id}/resend", headers=ADMIN)
    assert final.status_code == 409 and final.json()["error"]["code"] == "REFUND_SETTLED"


async def test_product_and_user_changes_are_in_the_audit_trail(svc: Harness) -> None:
    async with signed_in(svc, "owner") as owner:
        product = (await owner.send("POST", "/api/v1/admin/products", json={"name": "tea", "price_fen": 100})).json()
        await owner.send("PATCH", f"/api/v1/admin/products/{product['id']}", json={"price_fen": 120, "active": False})
        made = await owner.send("POST", "/api/v1/admin/operators", json={"email": "new@shop.example", "role": "viewer",
                                                                         "password": "a long password"})  # fmt: skip
        await owner.send("PATCH", f"/api/v1/admin/operators/{made.json()['id']}", json={"role": "support"})
        own = await owner.send("PATCH", f"/api/v1/admin/operators/{owner.operator_id}", json={"role": "viewer"})
        assert own.status_code == 409 and own.json()["error"]["code"] == "OPERATOR_SELF_CHANGE"
        trail = (await owner.get("/api/v1/admin/audit")).json()
    mine = [(a["action"], a["target"], a["detail"]) for a in reversed(trail) if a["operator"] == owner.email]
    assert [m[:2] for m in mine] == [("product.create", f"product:{product['id']}"),
                                     ("product.update", f"product:{product['id']}"),
                                     ("operator.create", f"operator:{made.json()['id']}"),
                                     ("operator.update", f"operator:{made.json()['id']}")]  # fmt: skip
    assert mine[1][2] == {"price_fen": 120, "active": False, "actor_role": "owner"}
    assert mine[3][2]["role"] == {"from": "viewer", "to": "support"}
    assert all(a["ip"] == "127.0.0.1" and a["operator_id"] == owner.operator_id for a in trail
               if a["operator"] == owner.email)  # fmt: skip
    assert "password" not in str(trail).replace("password_changed", "")
