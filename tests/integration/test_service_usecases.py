"""service/payments.py and service/refunds.py called directly, where HTTP adds nothing: the use
cases' own answers and records, on every backend (the simulator still plays WeChat)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from silverpay.domain.refunds import RefundStatus
from silverpay.errors import Conflict, NotFound
from silverpay.service import payments, refunds
from silverpay.wechat.gateway import RefundResult
from tests.invariants import context
from tests.service_harness import Harness


async def events(svc: Harness, order_id: int, kind: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in (await svc.admin_order(order_id))["events"] if e["kind"] == kind]


async def paid_order(svc: Harness, price_fen: int = 1000) -> dict[str, Any]:
    alice = await svc.shopper()
    order = await svc.paid_order(alice, price_fen=price_fen)
    assert (await payments.confirm(context(svc), alice.user_id, order["id"]))["status"] == "PAID"
    return order


async def test_another_shoppers_order_is_not_found_by_any_use_case(svc: Harness) -> None:
    alice, bob = await svc.shopper(), await svc.shopper()
    order = await svc.order(alice)
    ctx = context(svc)
    for use_case in (payments.pay, payments.confirm, payments.cancel):
        with pytest.raises(NotFound):
            await use_case(ctx, bob.user_id, order["id"])
    assert (await svc.get(alice, order["id"]))["status"] == "CREATED"


async def test_confirm_of_an_order_never_prepaid_asks_no_one(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    view = await payments.confirm(context(svc), alice.user_id, order["id"])
    assert view["status"] == "CREATED"
    assert await events(svc, order["id"], "wechat.query") == []


async def test_sync_of_a_number_wechat_never_saw_changes_nothing_and_says_so(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    ctx = context(svc)
    row = await ctx.ledger.get(order["id"])
    assert row is not None
    assert (await payments.sync_from_wechat(ctx, row, source="test")).status == "CREATED"
    assert await events(svc, order["id"], "wechat.query") == [{"source": "test", "outcome": "not found"}]


async def test_expiry_of_an_order_never_prepaid_closes_it_here_only(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    ctx = context(svc)
    row = await ctx.ledger.get(order["id"])
    assert row is not None
    assert (await payments.expire(ctx, row)).status == "CLOSED"
    assert await events(svc, order["id"], "wechat.close") == []  # nothing at WeChat to close
    with pytest.raises(Conflict) as refused:
        await payments.pay(ctx, alice.user_id, order["id"])
    assert refused.value.code == "ORDER_CLOSED"


async def test_create_refund_replays_refuses_and_reserves(svc: Harness) -> None:
    order = await paid_order(svc)
    ctx = context(svc)
    key = uuid.uuid4().hex
    first = await refunds.create_refund(ctx, order["id"], 400, "damaged", key)
    again = await refunds.create_refund(ctx, order["id"], 400, "damaged", key)
    assert (first.status_code, again.body["out_refund_no"]) == (201, first.body["out_refund_no"])
    with pytest.raises(Conflict) as reused:  # the same key for another request
        await refunds.create_refund(ctx, order["id"], 400, "other reason", key)
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    with pytest.raises(Conflict) as exceeds:  # 400 reserved: 601 does not fit
        await refunds.create_refund(ctx, order["id"], 601, "", None)
    assert exceeds.value.code == "REFUND_EXCEEDS_PAID"
    with pytest.raises(NotFound):
        await refunds.create_refund(ctx, order["id"] + 1000, 1, "", None)


async def test_refund_settles_once_and_a_contradiction_is_flagged_not_applied(svc: Harness) -> None:
    await svc.faults(notify_drop_rate=1.0)  # the test tells the service what WeChat says
    order = await paid_order(svc)
    ctx = context(svc)
    created = (await refunds.create_refund(ctx, order["id"], 1000, "", None)).body
    number, trade = created["out_refund_no"], order["out_trade_no"]

    def said(status: RefundStatus, fen: int = 1000) -> RefundResult:
        return RefundResult(number, trade, "50300000000000000001", status, fen)

    wrong = await refunds.settle(ctx, said(RefundStatus.SUCCESS, 999), source="refund_query")
    assert wrong is not None and wrong.status == "PROCESSING"  # an amount it never asked for: not applied
    view = await svc.admin_order(order["id"])
    assert view["needs_review"] and "999" in view["review_reason"] and view["status"] == "PAID"
    for _ in range(2):  # the second time is a duplicate
        await refunds.settle(ctx, said(RefundStatus.SUCCESS), source="refund_query")
    assert (await svc.admin_order(order["id"]))["status"] == "REFUNDED"
    await refunds.settle(ctx, said(RefundStatus.CLOSED), source="refund_query")  # contradicts SUCCESS
    view = await svc.admin_order(order["id"])
    assert [r["status"] for r in view["refunds"]] == ["SUCCESS"] and view["status"] == "REFUNDED"
    outcomes = [e["outcome"] for e in await events(svc, order["id"], "wechat.refund_query")]
    assert outcomes == ["flagged", "success", "duplicate", "flagged"]
    moves = [(e["from"], e["to"]) for e in await events(svc, order["id"], "refund.status")]
    assert moves == [("PROCESSING", "SUCCESS")]
    with pytest.raises(NotFound):
        await refunds.settle(ctx, RefundResult("RFnosuch", trade, "", RefundStatus.SUCCESS, 1), source="refund_query")
