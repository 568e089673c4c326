"""Refunds (SPEC §2.7, §2.8, §3.6): accepted at once, finished after a delay, at most what was paid."""

from __future__ import annotations

from silverpay.sim.config import SimConfig
from silverpay.sim.core import trades
from silverpay.sim.core.commands import (
    Refund,
    RefundQuery,
    RefundsOfTrade,
    RefundStatus,
    RefundView,
    TradeRef,
    TradeState,
)
from silverpay.sim.core.failures import Reason, RuleFailure
from silverpay.sim.core.ids import new_refund_id
from silverpay.sim.state import SimRefund, SimState, Trade

MAX_REFUNDS = 50
CHANGED = "订单金额或退款金额与之前请求不一致，请核实后再试"


def view(refund: SimRefund, trade: Trade | None) -> RefundView:
    return RefundView(
        refund_id=refund.refund_id, out_refund_no=refund.out_refund_no, out_trade_no=refund.out_trade_no,
        transaction_id=refund.transaction_id, total_fen=refund.total_fen, refund_fen=refund.refund_fen,
        payer_total_fen=trade.payer_total_fen if trade else refund.total_fen, status=refund.status,
        created_at=refund.created_at, success_time=refund.success_time,
    )  # fmt: skip


def refund(
    config: SimConfig, state: SimState, cmd: Refund, now: float, *, outcome: RefundStatus, delay_s: float
) -> RefundView:
    """Accept a refund (PROCESSING, until ``now + delay_s``, then ``outcome``), or the one already
    accepted under the same out_refund_no: "同一退款单号多次请求只退一笔"."""
    if cmd.trade.appid is not None:
        trades.check_app(config, cmd.trade.mch_id, cmd.trade.appid)
    trade = trades.find(state, cmd.trade)
    if not trade.trade_state.paid:
        raise RuleFailure(Reason.NOT_PAID, "未支付的订单不能发起退款")
    if cmd.total_fen != trade.total_fen:
        raise RuleFailure(Reason.PARAM_ERROR, CHANGED)
    existing = state.refund(trade.mch_id, cmd.out_refund_no)
    if existing is not None:
        if existing.refund_fen != cmd.refund_fen or existing.out_trade_no != trade.out_trade_no:
            raise RuleFailure(Reason.PARAM_ERROR, CHANGED)
        return view(existing, trade)  # a re-entry changes nothing, not even the notification's format
    others = state.refunds_of(trade)
    if len(others) >= MAX_REFUNDS:
        raise RuleFailure(Reason.REFUND_LIMIT, "退款次数超过限制")
    reserved = sum(r.refund_fen for r in others if r.status is not RefundStatus.CLOSED)
    if reserved + cmd.refund_fen > trade.total_fen:
        raise RuleFailure(Reason.REFUND_EXCEEDS_PAID, "累计退款金额大于支付金额")
    created = SimRefund(
        mch_id=trade.mch_id, out_refund_no=cmd.out_refund_no, out_trade_no=trade.out_trade_no,
        transaction_id=trade.transaction_id, refund_id=new_refund_id(now), total_fen=cmd.total_fen,
        refund_fen=cmd.refund_fen, reason=cmd.reason, notify_url=cmd.notify_url, created_at=now,
        due_at=now + delay_s, outcome=outcome, api=cmd.api,
    )  # fmt: skip
    state.save_refund(created)
    trade.trade_state = TradeState.REFUND
    trade.history.append({"at": now, "event": f"refund {created.out_refund_no} accepted"})
    state.save_trade(trade)
    return view(created, trade)


def query(config: SimConfig, state: SimState, q: RefundQuery) -> RefundsOfTrade:
    if q.appid is not None:
        trades.check_app(config, q.mch_id, q.appid)
    missing = RuleFailure(Reason.REFUND_NOT_FOUND, "退款订单查询失败")
    if q.out_refund_no or q.refund_id:
        one = state.refund(q.mch_id, q.out_refund_no) if q.out_refund_no else state.refund_by_id(q.refund_id)
        if one is None or one.mch_id != q.mch_id:
            raise missing
        matches = [one]
        trade = state.trade(q.mch_id, one.out_trade_no)
    else:
        try:
            trade = trades.find(state, q.trade or TradeRef(q.mch_id))
        except RuleFailure:
            raise missing from None
        matches = state.refunds_of(trade)
    if not matches or trade is None:
        raise missing
    return RefundsOfTrade(trades.view(trade), tuple(view(r, trade) for r in matches))


def finish_due(state: SimState, now: float) -> list[SimRefund]:
    """Move every refund whose processing time has passed to its outcome; returns those that moved."""
    finished = []
    for r in state.processing_refunds():
        if r.due_at <= now:
            r.status = r.outcome
            r.success_time = now if r.outcome is RefundStatus.SUCCESS else None
            state.save_refund(r)
            finished.append(r)
    return finished
