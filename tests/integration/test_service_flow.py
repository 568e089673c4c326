"""The merchant service end to end in one process (simulator behind an ASGI transport), per backend."""

from __future__ import annotations

from sqlalchemy import select

from silverpay.store.models import OrderEvent
from tests.service_harness import ADMIN, Harness
from tests.waiting import eventually


async def test_happy_path_settles_by_notification(svc: Harness) -> None:
    alice = await svc.shopper("alice")
    order = await svc.order(alice, quantity=3, price_fen=1999)
    assert order["amount_fen"] == 5997 and order["status"] == "CREATED"
    params = await svc.pay_params(alice, order["id"])
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"].startswith("prepay_id=") and params["timeStamp"].isdigit()
    assert (await svc.get(alice, order["id"]))["status"] == "PAYING"
    paid = await svc.wechat_pay(alice, params)  # the simulator verifies paySign as WeChat would
    assert paid.status_code == 200, paid.text

    async def is_paid() -> bool:
        return (await svc.get(alice, order["id"]))["status"] == "PAID"

    await eventually(is_paid)
    view = await svc.admin_order(order["id"])
    assert view["transaction_id"] == paid.json()["transaction_id"]
    statuses = [(e["detail"]["from"], e["detail"]["to"]) for e in view["events"] if e["kind"] == "status"]
    assert statuses == [(None, "CREATED"), ("CREATED", "PAYING"), ("PAYING", "PAID")]
    notify = [e for e in view["events"] if e["kind"] == "wechat.notify"]
    assert notify[0]["detail"]["outcome"] == "settled" and notify[0]["detail"]["verified"] is True
    confirmed = await svc.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=alice.auth)
    assert confirmed.json()["status"] == "PAID"


async def test_events_never_hold_secrets(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.paid_order(alice)
    await eventually(lambda: _paid(svc, alice, order["id"]))
    async with svc.api._transport.app.state.ctx.sessions() as db:  # type: ignore[attr-defined]
        events = (await db.execute(select(OrderEvent))).scalars().all()
    text = repr([e.detail for e in events])
    for secret in (svc.settings.wechat_api_key.get_secret_value(), alice.token, "paySign", "session_key"):
        assert secret not in text


async def _paid(svc: Harness, shopper, order_id: int) -> bool:  # type: ignore[no-untyped-def]
    return (await svc.get(shopper, order_id))["status"] == "PAID"


async def test_admin_requires_the_operator_token(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    assert (await svc.api.get(f"/api/v1/admin/orders/{order['id']}")).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await svc.api.get(f"/api/v1/admin/orders/{order['id']}", headers=wrong)).status_code == 401
    assert (await svc.api.get(f"/api/v1/admin/orders/{order['id']}", headers=alice.auth)).status_code == 401
    assert (await svc.api.get(f"/api/v1/admin/orders/{order['id']}", headers=ADMIN)).status_code == 200
