"""Refunds: reservation, submission, notification, query, limits and races, on every backend."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from silverpay.sim.config import DEMO_APPID
from silverpay.wechat.v2 import xml
from tests.service_harness import Harness, Shopper
from tests.waiting import eventually


async def paid(svc: Harness, price_fen: int = 1000) -> tuple[Shopper, dict[str, Any]]:
    alice = await svc.shopper()
    order = await svc.paid_order(alice, price_fen=price_fen)

    async def settled() -> bool:
        return (await svc.get(alice, order["id"]))["status"] == "PAID"

    await eventually(settled)
    return alice, order


async def refund_status(svc: Harness, order_id: int, out_refund_no: str) -> str:
    refunds = (await svc.admin_order(order_id))["refunds"]
    return str(next(r["status"] for r in refunds if r["out_refund_no"] == out_refund_no))


async def test_partial_then_full_refund_by_notification(svc: Harness) -> None:
    alice, order = await paid(svc)
    first = await svc.refund(order["id"], 300)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "PROCESSING" and first.json()["accepted"] is True
    await svc.advance(2)  # the simulator finishes the refund and notifies (encrypted req_info)

    async def done(no: str) -> bool:
        return await refund_status(svc, order["id"], no) == "SUCCESS"

    await eventually(lambda: done(first.json()["out_refund_no"]))
    assert (await svc.get(alice, order["id"]))["status"] == "PARTIALLY_REFUNDED"
    second = await svc.refund(order["id"], 700)
    await svc.advance(2)
    await eventually(lambda: done(second.json()["out_refund_no"]))
    assert (await svc.get(alice, order["id"]))["status"] == "REFUNDED"
    over = await svc.refund(order["id"], 1)
    assert over.status_code == 409 and over.json()["error"]["code"] == "ORDER_NOT_REFUNDABLE"


async def test_refunds_never_exceed_the_paid_amount(svc: Harness) -> None:
    _, order = await paid(svc)
    too_much = await svc.refund(order["id"], 1001)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "REFUND_EXCEEDS_PAID"
    responses = await asyncio.gather(*(svc.refund(order["id"], 300) for _ in range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 201, 201, 409, 409, 409, 409, 409], [r.text for r in responses]
    assert sum(r["amount_fen"] for r in (await svc.admin_order(order["id"]))["refunds"]) == 900


async def test_unpaid_orders_cannot_be_refunded(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    response = await svc.refund(order["id"], 1)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ORDER_NOT_REFUNDABLE"
    assert (await svc.refund(999999, 1)).status_code == 404


async def test_idempotent_refund_request(svc: Harness) -> None:
    _, order = await paid(svc)
    key = uuid.uuid4().hex
    first = await svc.refund(order["id"], 100, **{"Idempotency-Key": key})
    again = await svc.refund(order["id"], 100, **{"Idempotency-Key": key})
    assert first.json()["out_refund_no"] == again.json()["out_refund_no"]
    other = await svc.refund(order["id"], 200, **{"Idempotency-Key": key})
    assert other.status_code == 409
    assert len((await svc.admin_order(order["id"]))["refunds"]) == 1


async def test_lost_refund_notification_is_settled_by_the_worker(svc: Harness) -> None:
    alice, order = await paid(svc)
    await svc.faults(notify_drop_rate=1.0)
    refund = (await svc.refund(order["id"], 1000)).json()
    await svc.advance(15)
    await svc.worker().run_once()
    assert await refund_status(svc, order["id"], refund["out_refund_no"]) == "SUCCESS"
    assert (await svc.get(alice, order["id"]))["status"] == "REFUNDED"


async def test_unknown_submission_is_resent_with_the_same_number(svc: Harness) -> None:
    _, order = await paid(svc)
    await svc.faults(api_error_rate=1.0)
    refund = (await svc.refund(order["id"], 400)).json()
    assert refund["status"] == "PROCESSING" and refund["accepted"] is False  # outcome unknown: still reserved
    assert (await svc.refund(order["id"], 601)).status_code == 409
    await svc.faults(notify_drop_rate=1.0)
    await svc.advance(15)
    await svc.worker().run_once()  # re-sends: accepted now
    await svc.advance(30)
    await svc.worker().run_once()  # asks refundquery: SUCCESS
    assert await refund_status(svc, order["id"], refund["out_refund_no"]) == "SUCCESS"
    trade_refunds = [r for r in (await svc.admin_order(order["id"]))["refunds"]]
    assert len(trade_refunds) == 1


async def test_closed_refund_releases_its_amount(svc: Harness) -> None:
    _, order = await paid(svc)
    await svc.faults(refund_outcome="REFUNDCLOSE")
    failed = (await svc.refund(order["id"], 1000)).json()
    await svc.advance(2)

    async def closed() -> bool:
        return await refund_status(svc, order["id"], failed["out_refund_no"]) == "CLOSED"

    await eventually(closed)
    await svc.faults()
    assert (await svc.refund(order["id"], 1000)).status_code == 201


async def test_abnormal_refund_needs_an_operator(svc: Harness) -> None:
    _, order = await paid(svc)
    await svc.faults(refund_outcome="CHANGE")  # v2's word at WeChat; silverpay's is ABNORMAL (v3's)
    refund = (await svc.refund(order["id"], 500)).json()
    await svc.advance(2)

    async def changed() -> bool:
        return await refund_status(svc, order["id"], refund["out_refund_no"]) == "ABNORMAL"

    await eventually(changed)
    view = await svc.admin_order(order["id"])
    assert view["needs_review"] and "ABNORMAL" in view["review_reason"]
    assert (await svc.refund(order["id"], 501)).status_code == 409  # still reserved


async def test_forged_refund_notification_is_refused(svc: Harness) -> None:
    body = xml.encode({"return_code": "SUCCESS", "appid": DEMO_APPID, "mch_id": "1900000109",
                       "nonce_str": "x", "req_info": "bm90IGVuY3J5cHRlZA=="}).encode()  # fmt: skip
    response = await svc.api.post("/api/v1/wechat/refund-notify", content=body)
    assert response.status_code == 400 and xml.decode(response.content)["return_code"] == "FAIL"
