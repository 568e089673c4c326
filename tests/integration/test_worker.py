"""The background worker, one pass at a time, on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.service_harness import Harness, Shopper


async def status(svc: Harness, shopper: Shopper, order_id: int) -> str:
    return str((await svc.get(shopper, order_id))["status"])


async def events(svc: Harness, order_id: int, kind: str) -> list[dict[str, Any]]:
    return [e for e in (await svc.admin_order(order_id))["events"] if e["kind"] == kind]


async def test_sweeper_settles_a_payment_whose_notification_was_lost(svc: Harness) -> None:
    alice = await svc.shopper()
    await svc.faults(notify_drop_rate=1.0)
    order = await svc.paid_order(alice)
    worker = svc.worker()
    assert await worker.run_once() == 0  # not due yet: the first look is 15 s after pay
    assert await status(svc, alice, order["id"]) == "PAYING"
    await svc.advance(15)
    assert await worker.run_once() == 1
    assert await status(svc, alice, order["id"]) == "PAID"
    queries = await events(svc, order["id"], "wechat.query")
    assert [q["detail"]["source"] for q in queries] == ["sweeper"]
    await svc.advance(3600)
    await worker.run_once()
    assert len(await events(svc, order["id"], "wechat.query")) == 1  # settled orders are not asked again


async def test_sweeper_backs_off_and_never_fails_an_unknown_outcome(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    await svc.pay_params(alice, order["id"])
    worker = svc.worker()
    await svc.faults(api_error_rate=1.0)
    for looks, delay in enumerate((15, 30, 60)):  # SYSTEMERROR, NOTPAY, NOTPAY: each pushes the next look back
        await svc.advance(delay - 1)
        await worker.run_once()
        assert len(await events(svc, order["id"], "wechat.query")) == looks
        await svc.advance(1)
        await worker.run_once()
        assert len(await events(svc, order["id"], "wechat.query")) == looks + 1
        await svc.faults()
    assert await status(svc, alice, order["id"]) == "PAYING"
    outcomes = [e["detail"].get("outcome") for e in await events(svc, order["id"], "wechat.query")]
    assert outcomes == ["error", "pending", "pending"]


async def test_expiry_closes_unpaid_orders_at_wechat_first(svc: Harness) -> None:
    alice = await svc.shopper()
    never_paid = await svc.order(alice)
    pending = await svc.order(alice)
    params = await svc.pay_params(alice, pending["id"])
    await svc.faults(notify_drop_rate=1.0)
    paid_late = await svc.paid_order(alice)
    await svc.advance(svc.settings.order_ttl_s + 1)
    await svc.worker().run_once()
    assert await status(svc, alice, never_paid["id"]) == "CLOSED"
    assert await status(svc, alice, pending["id"]) == "CLOSED"
    trade = (await svc.wx.get(f"/sim/v1/trades/{pending['out_trade_no']}")).json()
    assert trade["trade_state"] == "CLOSED"
    assert (await svc.wechat_pay(alice, params)).status_code == 409  # nobody can pay it any more
    assert await status(svc, alice, paid_late["id"]) == "PAID"  # WeChat said ORDERPAID: settled, not dropped


async def test_two_workers_never_take_the_same_order(svc: Harness) -> None:
    alice = await svc.shopper()
    await svc.faults(notify_drop_rate=1.0)
    orders = [await svc.paid_order(alice) for _ in range(12)]
    await svc.advance(15)
    handled = await asyncio.gather(svc.worker().run_once(), svc.worker().run_once())
    assert sum(handled) == 12  # between them, each order once
    for order in orders:
        assert await status(svc, alice, order["id"]) == "PAID"
        assert len(await events(svc, order["id"], "wechat.query")) == 1


async def test_a_failing_expiry_close_waits_before_trying_again(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    await svc.pay_params(alice, order["id"])
    await svc.advance(svc.settings.order_ttl_s + 1)
    await svc.faults(api_error_rate=1.0)
    worker = svc.worker()
    for _ in range(3):
        await worker.run_once()
    closes = await events(svc, order["id"], "wechat.close")
    # Closed here at once (WeChat refuses payment past time_expire), at WeChat when it answers again:
    # the failure recorded once, not once per pass.
    assert [c["detail"]["outcome"] for c in closes] == ["error", "scheduled"]
    assert await status(svc, alice, order["id"]) == "CLOSED"
    await svc.faults()
    await svc.advance(31)
    await worker.run_once()
    assert [c["detail"]["outcome"] for c in await events(svc, order["id"], "wechat.close")] == [
        "error", "scheduled", "closed"
    ]  # fmt: skip
    assert (await svc.wx.get(f"/sim/v1/trades/{order['out_trade_no']}")).json()["trade_state"] == "CLOSED"
