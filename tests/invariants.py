"""The money invariants, checked against both records: the service's (its admin view and payment
attempts) and WeChat's (the in-process simulator's state). Used by the race tests and the
stateful (Hypothesis) test of the order lifecycle.

Always: refunds not CLOSED never exceed the order's amount here, nor a trade's total at WeChat;
at most one PAID transition per order. Once everything has settled (worker passes, notifications
in): an order paid here kept exactly one payment at WeChat, the one it names, with exactly its own
refunds; every other payment of the order's numbers was returned whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from silverpay.domain.orders import PAID_FAMILY
from silverpay.service.context import ServiceContext
from silverpay.sim.config import DEMO_MCH_ID
from silverpay.store.models import PaymentAttempt
from tests.service_harness import Harness

KEPT = ("PROCESSING", "SUCCESS", "ABNORMAL")  # refund statuses whose money is (or will be) gone


def context(svc: Harness) -> ServiceContext:
    ctx: ServiceContext = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    return ctx


async def numbers(svc: Harness, order_id: int, current: str) -> set[str]:
    """Every out_trade_no the order has used."""
    async with context(svc).sessions() as db:
        rows = await db.execute(select(PaymentAttempt.out_trade_no).where(PaymentAttempt.order_id == order_id))
        return {current, *rows.scalars()}


@dataclass
class AtWechat:
    paid: dict[str, int]  # out_trade_no -> total of a trade that was paid
    refunded: dict[str, int]  # out_trade_no -> refunds not closed
    refunds: dict[str, list[int]]  # out_trade_no -> amounts of successful refunds


def at_wechat(svc: Harness, trade_numbers: set[str]) -> AtWechat:
    state = svc.sim.state
    record = AtWechat({}, {}, {})
    for number in trade_numbers:
        trade = state.trade(DEMO_MCH_ID, number)
        if trade is None:
            continue
        if trade.paid_at is not None:
            record.paid[number] = trade.total_fen
        refunds = state.refunds_of(trade)
        record.refunded[number] = sum(r.refund_fen for r in refunds if r.status.value in KEPT)
        record.refunds[number] = sorted(r.refund_fen for r in refunds if r.status.value == "SUCCESS")
    return record


def paid_transitions(view: dict[str, Any]) -> int:
    return sum(1 for e in view["events"] if e["kind"] == "status" and e["detail"]["to"] == "PAID")


async def check_money(svc: Harness, order_id: int, *, settled: bool) -> dict[str, Any]:
    """Assert the invariants of one order; ``settled``: nothing is in flight any more, so the
    service's record must agree with WeChat's. Returns the admin view of the order."""
    view = await svc.admin_order(order_id)
    amount = view["amount_fen"]
    ordinary = [r for r in view["refunds"] if not r["surplus"]]
    assert sum(r["amount_fen"] for r in ordinary if r["status"] in KEPT) <= amount, view["refunds"]
    assert paid_transitions(view) <= 1, view["events"]
    wechat = at_wechat(svc, await numbers(svc, order_id, view["out_trade_no"]))
    for number, refunded in wechat.refunded.items():
        assert refunded <= wechat.paid.get(number, 0), (number, wechat)
    if not settled:
        return view
    paid_here = view["status"] in PAID_FAMILY
    assert paid_transitions(view) == (1 if paid_here else 0), view["events"]
    for number, total in wechat.paid.items():
        if paid_here and number == view["out_trade_no"]:
            assert total == amount
            mine = sorted(r["amount_fen"] for r in ordinary if r["status"] == "SUCCESS")
            assert wechat.refunds[number] == mine, (wechat, view["refunds"])
        else:  # a payment the order did not need: returned whole
            assert wechat.refunds[number] == [total], (number, wechat, view["refunds"])
    if paid_here:
        assert view["out_trade_no"] in wechat.paid, (view["out_trade_no"], wechat)
    return view
