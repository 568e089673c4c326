"""Races that really race, on every backend: the contenders are tasks that meet at an
asyncio.Barrier and then call the service together (through its HTTP API, in-process), so their
transactions overlap; then the money invariants (tests/invariants.py) are checked against both the
service's record and WeChat's, once the worker has settled everything.

The simulator's own notifications are dropped: what settles is what the test starts and the worker
passes it runs, so the outcome depends on the race and on nothing in the background."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx

from tests.invariants import check_money
from tests.service_harness import Harness, Shopper

T = TypeVar("T")


async def together(*calls: Awaitable[T]) -> list[T]:
    """Run the calls (coroutines not started yet) at once: each in a task that waits at the barrier
    until all have reached it, then makes its call."""
    barrier = asyncio.Barrier(len(calls))

    async def contender(call: Awaitable[T]) -> T:
        await barrier.wait()
        return await call

    return list(await asyncio.gather(*(contender(call) for call in calls)))


async def converge(svc: Harness, passes: int = 6) -> None:
    """Let time pass and the worker act until nothing is in flight: closes WeChat allows after
    5 minutes, surplus refunds submitted and followed up, pending refunds queried."""
    worker = svc.worker()
    for _ in range(passes):
        await svc.advance(1800)
        await worker.run_once()


async def paid_order(svc: Harness, shopper: Shopper, price_fen: int = 1000) -> dict[str, Any]:
    order = await svc.paid_order(shopper, price_fen=price_fen)
    confirmed = await svc.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=shopper.auth)
    assert confirmed.json()["status"] == "PAID", confirmed.text
    return order


def code(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body["error"]["code"] if response.status_code >= 400 else ""


async def test_concurrent_refunds_never_exceed_the_paid_amount(svc: Harness) -> None:
    await svc.faults(notify_drop_rate=1.0)
    order = await paid_order(svc, await svc.shopper())
    responses = await together(*(svc.refund(order["id"], 300) for _ in range(8)))
    assert sorted(code(r) for r in responses) == [(201, "")] * 3 + [(409, "REFUND_EXCEEDS_PAID")] * 5
    assert len({r.json()["out_refund_no"] for r in responses if r.status_code == 201}) == 3
    await converge(svc)
    view = await check_money(svc, order["id"], settled=True)
    assert view["status"] == "PARTIALLY_REFUNDED"
    assert sorted((r["amount_fen"], r["status"]) for r in view["refunds"]) == [(300, "SUCCESS")] * 3


async def test_concurrent_identical_refunds_with_one_key_are_one_refund(svc: Harness) -> None:
    """Each asks for 60 % of the order: a second refund would not fit, so an answer other than the
    first one's (409 REFUND_EXCEEDS_PAID) would mean the key was not honoured under the race."""
    await svc.faults(notify_drop_rate=1.0)
    order = await paid_order(svc, await svc.shopper())
    key = {"Idempotency-Key": uuid.uuid4().hex}
    responses = await together(*(svc.refund(order["id"], 600, **key) for _ in range(4)))
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["out_refund_no"] for r in responses}) == 1
    await converge(svc)
    view = await check_money(svc, order["id"], settled=True)
    assert [(r["amount_fen"], r["status"]) for r in view["refunds"]] == [(600, "SUCCESS")]


async def test_concurrent_pay_and_cancel_of_a_new_order(svc: Harness) -> None:
    """Whoever wins, a cancel that answers CLOSED is final, and a payment sheet the pay handed out
    meanwhile can only be paid for to be refunded."""
    await svc.faults(notify_drop_rate=1.0)
    alice = await svc.shopper()
    for prepaid in (False, True):
        order = await svc.order(alice)
        if prepaid:
            await svc.pay_params(alice, order["id"])
        path = f"/api/v1/orders/{order['id']}"
        pay, cancel = await together(svc.api.post(f"{path}/pay", headers=alice.auth),
                                     svc.api.post(f"{path}/cancel", headers=alice.auth))  # fmt: skip
        assert cancel.status_code == 200 and cancel.json()["status"] == "CLOSED", cancel.text
        assert code(pay) in {(200, ""), (409, "ORDER_CLOSED")}, pay.text
        if pay.status_code == 200:  # the shopper goes on to pay with the sheet that was handed out
            await svc.wechat_pay(alice, pay.json())
        await converge(svc)
        view = await check_money(svc, order["id"], settled=True)
        assert view["status"] == "CLOSED"


async def test_concurrent_pay_cancel_and_payment_at_wechat(svc: Harness) -> None:
    """The shopper pays with an open sheet while the order is cancelled and paid again: the order
    ends PAID with that payment, or CLOSED with the payment returned, never both or neither."""
    await svc.faults(notify_drop_rate=1.0)
    alice = await svc.shopper()
    endings = set()
    for _ in range(3):
        order = await svc.order(alice)
        sheet = await svc.pay_params(alice, order["id"])
        path = f"/api/v1/orders/{order['id']}"
        paid_at_wechat, pay, cancel = await together(
            svc.wechat_pay(alice, sheet),
            svc.api.post(f"{path}/pay", headers=alice.auth),
            svc.api.post(f"{path}/cancel", headers=alice.auth),
        )
        assert paid_at_wechat.status_code in (200, 409), paid_at_wechat.text
        assert code(pay) in {(200, ""), (409, "ORDER_CLOSED"), (409, "ORDER_ALREADY_PAID")}, pay.text
        assert code(cancel) in {(200, ""), (409, "ORDER_ALREADY_PAID")}, cancel.text
        await converge(svc)
        view = await check_money(svc, order["id"], settled=True)
        if cancel.status_code == 200 and cancel.json()["status"] == "CLOSED":
            assert view["status"] == "CLOSED"  # what the cancel answered holds
        endings.add(view["status"])
    assert endings <= {"PAID", "CLOSED"}
