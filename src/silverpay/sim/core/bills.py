"""The trade bill of a day (SPEC §2.9): WeChat's text format, the same for both API versions."""

from __future__ import annotations

from datetime import datetime, timedelta

from silverpay.beijing import BEIJING, format_beijing_dashed
from silverpay.sim.config import SimConfig
from silverpay.sim.core import trades
from silverpay.sim.core.commands import BillRequest, BillType, RefundStatus
from silverpay.sim.core.failures import Reason, RuleFailure
from silverpay.sim.state import SimRefund, SimState, Trade
from silverpay.wechat.v2 import bill

HISTORY_DAYS = 92  # bills exist from the next day, for three months


def bill_text(config: SimConfig, state: SimState, req: BillRequest, now: float) -> str:
    if req.appid is not None:
        trades.check_app(config, req.mch_id, req.appid)
    today = datetime.fromtimestamp(now, BEIJING).date()
    if req.day >= today or req.day < today - timedelta(days=HISTORY_DAYS):
        raise RuleFailure(Reason.BILL_DATE_INVALID, "invalid bill_date")
    text = _text(state, req.mch_id, req.day.isoformat(), req.bill_type)
    if text is None:
        raise RuleFailure(Reason.NO_BILL, "No Bill Exist")
    return text


def _text(state: SimState, mch_id: str, day: str, bill_type: BillType) -> str | None:
    """The bill of a Beijing day ``yyyy-MM-dd``; None when nothing happened that day."""
    rows: list[tuple[float, str]] = []
    settled = refunded = 0
    if bill_type is not BillType.REFUND:
        for t in state.trades.values():
            if t.mch_id != mch_id or not t.transaction_id or t.paid_at is None:
                continue
            at = float(int(t.paid_at))  # the bill's times are whole seconds
            if format_beijing_dashed(at)[:10] == day:
                rows.append((at, bill.format_row(bill.Row(
                    time=format_beijing_dashed(at), appid=t.appid, mch_id=t.mch_id, transaction_id=t.transaction_id,
                    out_trade_no=t.out_trade_no, openid=t.openid, trade_state="SUCCESS", settlement_fen=t.total_fen,
                    body=t.description, attach=t.attach))))  # fmt: skip
                settled += t.total_fen
    if bill_type is not BillType.SUCCESS:
        for r in state.refunds.values():
            if r.mch_id != mch_id or r.status is not RefundStatus.SUCCESS or r.success_time is None:
                continue
            if format_beijing_dashed(r.success_time)[:10] == day:
                rows.append((r.success_time, _refund_row(r, r.success_time, state.trade(r.mch_id, r.out_trade_no))))
                refunded += r.refund_fen
    if not rows:
        return None
    rows.sort(key=lambda row: row[0])
    lines = [bill.HEADER, *(line for _, line in rows), bill.SUMMARY_HEADER,
             bill.format_summary(len(rows), settled, refunded)]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def _refund_row(r: SimRefund, at: float, trade: Trade | None) -> str:
    return bill.format_row(bill.Row(
        time=format_beijing_dashed(at), appid=trade.appid if trade else "", mch_id=r.mch_id,
        transaction_id=r.transaction_id, out_trade_no=r.out_trade_no, openid=trade.openid if trade else "",
        trade_state="REFUND", settlement_fen=0, refund_id=r.refund_id, out_refund_no=r.out_refund_no,
        refund_fen=r.refund_fen, refund_status="SUCCESS", body=trade.description if trade else ""))  # fmt: skip
