"""Shipping management end to end in one process (service + simulator over ASGI), every backend:
operator shipments with the one-re-ship rule, 10060001 retried, auto-ship of virtual goods, the
buyer's confirmation, message pushes checked with get_order, and the operator's queue."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from silverpay.domain.shipping import ShipmentState
from silverpay.service import shipping
from silverpay.service.context import ServiceContext
from silverpay.sim.config import DEMO_APPID
from silverpay.store.models import Order, User
from silverpay.store.models_shipping import Shipment, WechatAccessToken
from tests.miniapp import AES_KEY, PUSH_TOKEN
from tests.service_harness import ADMIN, SERVICE, Harness, Shopper, running_harness
from tests.waiting import eventually

EXPRESS = {"logistics_type": 1, "parcels": [{"item_desc": "Pour-over kit * 1", "tracking_no": "YT100200300",
                                            "express_company": "YTO"}]}  # fmt: skip


@pytest.fixture
async def shop(database_url: str) -> AsyncIterator[Harness]:
    async with running_harness(database_url, wechat_msg_token=PUSH_TOKEN, wechat_msg_aes_key=AES_KEY) as h:
        settings = {"url": f"{SERVICE}/api/v1/wechat/mp-events", "token": PUSH_TOKEN, "aes_key": AES_KEY,
                    "mode": "safe", "format": "xml"}  # fmt: skip
        assert (await h.wx.put(f"/sim/v1/apps/{DEMO_APPID}/push", json=settings)).status_code == 200
        yield h


async def paid(
    h: Harness, *, auto_ship: bool = False, shopper: Shopper | None = None
) -> tuple[Shopper, dict[str, Any]]:
    body = {"name": "Membership", "price_fen": 990, "auto_ship_virtual": auto_ship}
    product = await h.api.post("/api/v1/admin/products", headers=ADMIN, json=body)
    assert product.status_code == 201 and product.json()["auto_ship_virtual"] is auto_ship
    shopper = shopper or await h.shopper()
    created = await h.api.post("/api/v1/orders", json={"product_id": product.json()["id"]}, headers=shopper.auth)
    assert created.status_code == 201, created.text
    order = created.json()
    assert (await h.wechat_pay(shopper, await h.pay_params(shopper, order["id"]))).status_code == 200
    confirmed = await h.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=shopper.auth)
    assert confirmed.json()["status"] == "PAID"
    return shopper, order


async def ship(h: Harness, order_id: int, body: dict[str, Any], **headers: str) -> Any:
    return await h.api.post(f"/api/v1/admin/orders/{order_id}/shipments", json=body, headers={**ADMIN, **headers})


async def shipment(h: Harness, order_id: int) -> dict[str, Any]:
    return dict((await h.admin_order(order_id))["shipment"])


async def test_ship_change_once_confirm_and_settle(shop: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="silverpay")
    caplog.set_level(logging.DEBUG, logger="httpx")  # (it logs URLs, where the token travels)
    shopper, order = await paid(shop)
    assert (await shop.api.get(f"/api/v1/orders/{order['id']}/shipment", headers=shopper.auth)).json()["state"] \
        == "NOT_SHIPPED"  # fmt: skip

    first = await ship(shop, order["id"], EXPRESS, **{"Idempotency-Key": "ship-1"})
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "SHIPPED" and first.json()["reships_left"] == 1
    replay = await ship(shop, order["id"], EXPRESS, **{"Idempotency-Key": "ship-1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert (await ship(shop, order["id"], {**EXPRESS, "use_last_reship": True},
                       **{"Idempotency-Key": "ship-1"})).status_code == 409  # fmt: skip

    changed = {**EXPRESS, "parcels": [{**EXPRESS["parcels"][0], "tracking_no": "YT999"}]}  # type: ignore[dict-item]
    warned = await ship(shop, order["id"], changed)
    assert warned.status_code == 409 and warned.json()["error"]["code"] == "SHIPMENT_LAST_RESHIP"
    reshipped = await ship(shop, order["id"], {**changed, "use_last_reship": True})
    assert reshipped.status_code == 201, reshipped.text
    assert reshipped.json()["state"] == "SHIPPED" and reshipped.json()["reships_left"] == 0
    assert reshipped.json()["parcels"][0]["tracking_no"] == "YT999"
    assert (await shop.wx.get(f"/sim/v1/shipments/{order_transaction(await shop.admin_order(order['id']))}")
            ).json()["shipment"]["finish_count"] == 2  # fmt: skip
    again = await ship(shop, order["id"], {**EXPRESS, "use_last_reship": True})
    assert again.status_code == 409 and again.json()["error"]["code"] == "SHIPMENT_RESHIP_USED"

    buyer = (await shop.api.get(f"/api/v1/orders/{order['id']}/shipment", headers=shopper.auth)).json()
    assert buyer["can_confirm_receipt"] and buyer["transaction_id"]
    confirmed = await shop.wx.post("/sim/v1/confirm-receipt", json={"transaction_id": buyer["transaction_id"]})
    assert confirmed.status_code == 200, confirmed.text
    # The settlement push reaches /mp-events (encrypted XML); the service checks get_order and settles.
    await eventually(lambda: _state_is(shop, order["id"], "SETTLED"))
    detail = await shop.admin_order(order["id"])
    moves = [(e["detail"]["from"], e["detail"]["to"]) for e in detail["events"] if e["kind"] == "shipment.status"]
    assert moves[0] == ("NOT_SHIPPED", "SHIPPING_SUBMITTED") and moves[-1][1] == "SETTLED"
    assert any(e["kind"] == "wechat.get_order" and e["detail"]["source"].startswith("push:")
               for e in detail["events"])  # fmt: skip
    # The shared access_token: one row, a secret never logged nor put in an event.
    ctx = shop.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions() as db:
        token = (await db.get(WechatAccessToken, DEMO_APPID)).value
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("silverpay", "httpx")))
    assert len(token) > 100 and "upload_shipping_info" in ours
    assert token not in ours and token not in str(detail)


def order_transaction(detail: dict[str, Any]) -> str:
    return str(detail["transaction_id"])


async def _push_checked(h: Harness, order_id: int) -> bool:
    events = (await h.admin_order(order_id))["events"]
    return any(e["kind"] == "wechat.get_order" and str(e["detail"].get("source", "")).startswith("push:")
               for e in events)  # fmt: skip


async def _state_is(h: Harness, order_id: int, state: str) -> bool:
    return (await shipment(h, order_id))["state"] == state


async def test_payment_unknown_is_retried_then_virtual_goods_ship_themselves(shop: Harness) -> None:
    await shop.faults(shipping_payment_delay_s=60)
    shopper, order = await paid(shop, auto_ship=True)
    worker = shop.worker()
    await worker.run_once()
    waiting = await shipment(shop, order["id"])
    assert waiting["state"] == "SHIPPING_SUBMITTED" and waiting["requested_by"] == "auto"
    assert waiting["error"]["code"] == "10060001"
    await shop.advance(61)
    await worker.run_once()
    shipped = await shipment(shop, order["id"])
    assert shipped["state"] == "SHIPPED" and shipped["logistics_type"] == 3 and shipped["error"] is None

    # The buyer confirms in WeChat; the push is lost, the client re-checks with the server.
    await shop.faults(push_drop_rate=1)
    tid = (await shop.admin_order(order["id"]))["transaction_id"]
    assert (await shop.wx.post("/sim/v1/confirm-receipt", json={"transaction_id": tid})).status_code == 200
    after = await shop.api.post(f"/api/v1/orders/{order['id']}/shipment/refresh", headers=shopper.auth)
    assert after.status_code == 200 and after.json()["state"] == "SETTLED"


async def test_refused_upload_blocks_for_the_operator_and_the_queue_shows_it(shop: Harness) -> None:
    _, late = await paid(shop)
    bob, fresh = await paid(shop)
    await shop.advance(25 * 3600)
    _, newest = await paid(shop, shopper=bob)  # (a token issued before the jump: JWTs check iat)
    sf_without_contact = {"logistics_type": 1, "parcels": [{"item_desc": "x", "tracking_no": "SF1",
                                                            "express_company": "SF"}]}  # fmt: skip
    refused = await ship(shop, late["id"], sf_without_contact)
    assert refused.status_code == 400  # caught before anything is sent or kept
    queue = (await shop.api.get("/api/v1/admin/shipments?state=NOT_SHIPPED", headers=ADMIN)).json()
    assert [q["order_id"] for q in queue] == [late["id"], fresh["id"], newest["id"]]
    assert [q["overdue"] for q in queue] == [True, True, False]
    # WeChat refuses what passed our checks (here: the payer's openid is not the payment's): BLOCKED,
    # with WeChat's error for the operator; asking again (fixed) does not use the re-ship.
    ctx = shop.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions.begin() as db:
        order_row = await db.get(Order, fresh["id"])
        user = await db.get(User, order_row.user_id)
        openid, user.openid = user.openid, "o-somebody-else"
    blocked = await ship(shop, fresh["id"], EXPRESS)
    assert blocked.status_code == 201 and blocked.json()["state"] == "BLOCKED"
    assert blocked.json()["error"]["code"] == "10060031"
    listed = (await shop.api.get("/api/v1/admin/shipments?state=BLOCKED", headers=ADMIN)).json()
    assert [q["order_id"] for q in listed] == [fresh["id"]] and listed[0]["overdue"]
    async with ctx.sessions.begin() as db:
        (await db.get(User, user.id)).openid = openid
    fixed = await ship(shop, fresh["id"], EXPRESS)
    assert fixed.json()["state"] == "SHIPPED" and fixed.json()["reships_left"] == 1
    # A change WeChat refuses does not use the re-ship either.
    async with ctx.sessions.begin() as db:
        (await db.get(User, user.id)).openid = "o-somebody-else"
    change = {**EXPRESS, "parcels": [{**EXPRESS["parcels"][0], "tracking_no": "YT2"}], "use_last_reship": True}
    refused_change = await ship(shop, fresh["id"], change)
    assert refused_change.json()["state"] == "BLOCKED" and refused_change.json()["reships_left"] == 1
    async with ctx.sessions.begin() as db:
        (await db.get(User, user.id)).openid = openid
    assert (await ship(shop, fresh["id"], change)).json()["reships_left"] == 0
    assert [q["order_id"] for q in (await shop.api.get("/api/v1/admin/shipments?state=SHIPPED",
                                                       headers=ADMIN)).json()] == [fresh["id"]]  # fmt: skip


async def test_a_refused_change_stays_blocked_when_the_earlier_uploads_push_is_checked_after(shop: Harness) -> None:
    """The push WeChat sends for an accepted upload may be checked only after a change to it was
    refused: get_order then shows the earlier upload, which is not the change (it stays BLOCKED)."""
    _, order = await paid(shop)
    assert (await ship(shop, order["id"], EXPRESS)).json()["state"] == "SHIPPED"
    ctx = shop.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions.begin() as db:
        user = await db.get(User, (await db.get(Order, order["id"])).user_id)
        user.openid = "o-somebody-else"
    change = {**EXPRESS, "parcels": [{**EXPRESS["parcels"][0], "tracking_no": "YT2"}], "use_last_reship": True}
    refused = (await ship(shop, order["id"], change)).json()
    assert refused["state"] == "BLOCKED" and refused["error"]["code"] == "10060031"
    assert (
        await shipping.refresh(ctx, order["id"], source="push:trade_manage_order_settlement") is ShipmentState.BLOCKED
    )
    after = await shipment(shop, order["id"])
    assert after["state"] == "BLOCKED" and after["error"]["code"] == "10060031" and after["reships_left"] == 1
    assert after["wechat_state"] == 2 and after["completed_uploads"] == 1


async def test_a_check_answered_before_a_change_does_not_undo_it(
    shop: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push's get_order is answered, then an operator's change lands before the check records
    it: the older answer (one upload, re-ship unused) must not overwrite the change's counts."""
    _, order = await paid(shop)
    assert (await ship(shop, order["id"], EXPRESS)).json()["state"] == "SHIPPED"
    await eventually(lambda: _push_checked(shop, order["id"]))  # (the upload's own push: out of the way)
    ctx = shop.api._transport.app.state.ctx  # type: ignore[attr-defined]
    change = {**EXPRESS, "parcels": [{**EXPRESS["parcels"][0], "tracking_no": "YT2"}], "use_last_reship": True}
    real_get_order = ctx.shipping.get_order
    changed: list[dict[str, Any]] = []
    first = [True]  # (the change's own push is checked too: only the first answer is held up)

    async def answered_before_the_change(key: Any) -> Any:
        answer = await real_get_order(key)  # WeChat: shipped once
        if first:
            first.clear()
            changed.append((await ship(shop, order["id"], change)).json())
        return answer

    monkeypatch.setattr(ctx.shipping, "get_order", answered_before_the_change)
    state = await shipping.refresh(ctx, order["id"], source="push:trade_manage_order_settlement")
    assert changed[0]["state"] == "SHIPPED" and changed[0]["reships_left"] == 0
    after = await shipment(shop, order["id"])
    assert state is ShipmentState.SHIPPED and after["state"] == "SHIPPED"
    assert after["completed_uploads"] == 2 and after["reships_left"] == 0
    assert after["parcels"][0]["tracking_no"] == "YT2"


async def _push_checked(h: Harness, order_id: int) -> bool:
    events = (await h.admin_order(order_id))["events"]
    return any(e["kind"] == "wechat.get_order" and e["detail"]["source"].startswith("push:") for e in events)


async def test_push_endpoint_checks_signatures(shop: Harness) -> None:
    from silverpay.wechat.miniapp.push import signature

    query = {"timestamp": "1700000000", "nonce": "n1", "echostr": "hello"}
    good = await shop.api.get("/api/v1/wechat/mp-events", params={**query, "signature": signature(PUSH_TOKEN,
                                                                  "1700000000", "n1")})  # fmt: skip
    assert good.status_code == 200 and good.text == "hello"
    bad = await shop.api.get("/api/v1/wechat/mp-events", params={**query, "signature": "0" * 40})
    assert bad.status_code == 400
    forged = await shop.api.post("/api/v1/wechat/mp-events", params={"timestamp": "1", "nonce": "n", "signature": "x"},
                                 content=b'{"MsgType":"event","Event":"trade_manage_order_settlement"}')  # fmt: skip
    assert forged.status_code == 400 and forged.text == "fail"


@pytest.mark.parametrize(("mode", "fmt"), [("plain", "json"), ("safe", "json"), ("plain", "xml")])
async def test_pushes_in_every_mode_and_format_settle_after_get_order(database_url: str, mode: str, fmt: str) -> None:
    aes_key = AES_KEY if mode == "safe" else ""
    async with running_harness(database_url, wechat_msg_token=PUSH_TOKEN, wechat_msg_aes_key=aes_key) as h:
        push = {"url": f"{SERVICE}/api/v1/wechat/mp-events", "token": PUSH_TOKEN, "mode": mode, "format": fmt,
                **({"aes_key": AES_KEY} if aes_key else {})}  # fmt: skip
        assert (await h.wx.put(f"/sim/v1/apps/{DEMO_APPID}/push", json=push)).status_code == 200
        _, order = await paid(h)
        assert (await ship(h, order["id"], EXPRESS)).json()["state"] == "SHIPPED"
        tid = (await h.admin_order(order["id"]))["transaction_id"]
        assert (await h.wx.post("/sim/v1/confirm-receipt", json={"transaction_id": tid})).status_code == 200
        await eventually(lambda: _state_is(h, order["id"], "SETTLED"))
        settled = await shipment(h, order["id"])
        assert settled["next_check_at"] is None and settled["received_at"] and settled["settled_at"]


async def test_shipment_changes_are_published_as_events(shop: Harness) -> None:
    _, order = await paid(shop, auto_ship=True)
    worker = shop.worker()
    await worker.run_once()  # ships the virtual goods
    tid = (await shop.admin_order(order["id"]))["transaction_id"]
    assert (await shop.wx.post("/sim/v1/confirm-receipt", json={"transaction_id": tid})).status_code == 200
    await eventually(lambda: _state_is(shop, order["id"], "SETTLED"))
    await worker.publish_events()
    listed = (await shop.api.get("/api/v1/events", headers=ADMIN)).json()
    shipments = [e for e in listed if e["type"].startswith("shipment.") and e["data"]["object"]["payment"]["id"]
                 == order["id"]]  # fmt: skip
    assert {e["type"] for e in shipments} >= {"shipment.shipped", "shipment.settled"}
    settled = next(e for e in shipments if e["type"] == "shipment.settled")["data"]["object"]
    assert settled["object"] == "shipment" and settled["state"] == "SETTLED" and settled["payment"]["status"] == "PAID"


async def test_a_poll_finishing_after_a_reship_keeps_the_reships_schedule(
    shop: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's poll holds its claim while an operator re-ships (and that upload fails, so it is
    due again in seconds); the poll's bookkeeping must not push the retry out to the poll interval."""
    _, order = await paid(shop)
    assert (await ship(shop, order["id"], EXPRESS)).json()["state"] == "SHIPPED"
    # The upload's settlement push is checked (get_order) and sets the slow poll's time: let it land
    # before the clock moves, or it would schedule the poll from the later time.
    await eventually(lambda: _push_checked(shop, order["id"]))
    await shop.advance(shop.settings.shipping_poll_s + 1)  # the slow poll is due
    changed = {**EXPRESS, "parcels": [{**EXPRESS["parcels"][0], "tracking_no": "YT2"}], "use_last_reship": True}
    real_poll = shipping.poll
    reshipped: list[dict[str, Any]] = []

    async def poll_while_the_operator_reships(ctx: ServiceContext, claimed: Shipment) -> shipping.Next:
        outcome = await real_poll(ctx, claimed)  # WeChat read: still shipped
        await shop.faults(shipping_error_rate=1)  # the re-ship's upload answers "system busy"
        reshipped.append((await ship(shop, order["id"], changed)).json())
        return outcome

    monkeypatch.setattr(shipping, "poll", poll_while_the_operator_reships)
    ctx = shop.api._transport.app.state.ctx  # type: ignore[attr-defined]
    assert await shipping.poll_due(ctx, limit=10, concurrency=1) == 1
    assert reshipped[0]["state"] == "SHIPPING_SUBMITTED"  # (its answer was lost: retried soon)
    after = await shipment(shop, order["id"])
    assert after["state"] == "SHIPPING_SUBMITTED"
    retry_at = datetime.fromisoformat(after["next_check_at"]).timestamp()
    assert retry_at == pytest.approx(shop.clock() + ctx.shipping_retry_delay(0), abs=1)
    async with ctx.sessions() as db:
        row = (await db.execute(select(Shipment).where(Shipment.order_id == order["id"]))).scalar_one()
    assert row.check_attempts == 1 and row.lease_until is None
