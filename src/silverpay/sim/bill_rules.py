"""`/pay/downloadbill` (SPEC §2.9): the day's trades and refunds in WeChat's text format."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta

from silverpay.beijing import BEIJING, format_beijing_dashed
from silverpay.sim.pay_rules import CommFail, check_app
from silverpay.sim.state import SimState
from silverpay.wechat.v2 import bill

BILL_TYPES = ("ALL", "SUCCESS", "REFUND")


class NoBill(Exception):
    """Answered as XML: return_code=FAIL, return_msg, error_code."""

    def __init__(self, return_msg: str, error_code: str) -> None:
        super().__init__(return_msg)
        self.return_msg = return_msg
        self.error_code = error_code


def bill_text(state: SimState, mch_id: str, day: str, bill_type: str) -> str | None:
    """The bill of a Beijing day ``yyyy-MM-dd``; None when nothing happened that day."""
    rows: list[tuple[float, str]] = []
    paid = settled = refunded = 0
    for t in state.trades.values():
        if t.mch_id != mch_id or not t.transaction_id or bill_type == "REFUND":
            continue
        at = datetime.strptime(t.time_end, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).timestamp()
        if format_beijing_dashed(at)[:10] == day:
            rows.append((at, bill.format_row(bill.Row(
                time=format_beijing_dashed(at), appid=t.appid, mch_id=t.mch_id, transaction_id=t.transaction_id,
                out_trade_no=t.out_trade_no, openid=t.openid, trade_state="SUCCESS", settlement_fen=t.total_fee,
                body=t.body, attach=t.attach))))  # fmt: skip
            paid += 1
            settled += t.total_fee
    for r in state.refunds.values():
        if r.mch_id != mch_id or r.refund_status != "SUCCESS" or r.success_time is None or bill_type == "SUCCESS":
            continue
        if format_beijing_dashed(r.success_time)[:10] == day:
            trade = state.trade(r.mch_id, r.out_trade_no)
            rows.append((r.success_time, bill.format_row(bill.Row(
                time=format_beijing_dashed(r.success_time), appid=trade.appid if trade else "", mch_id=r.mch_id,
                transaction_id=r.transaction_id, out_trade_no=r.out_trade_no, openid=trade.openid if trade else "",
                trade_state="REFUND", settlement_fen=0, refund_id=r.refund_id, out_refund_no=r.out_refund_no,
                refund_fen=r.refund_fee, refund_status="SUCCESS", body=trade.body if trade else ""))))  # fmt: skip
            refunded += r.refund_fee
    if not rows:
        return None
    rows.sort(key=lambda row: row[0])
    lines = [bill.HEADER, *(line for _, line in rows), bill.SUMMARY_HEADER,
             bill.format_summary(len(rows), settled, refunded)]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def download_bill(state: SimState, fields: dict[str, str], now: float, config: object) -> bytes:
    check_app(config, fields)  # type: ignore[arg-type]
    raw_date = fields.get("bill_date", "")
    try:
        day = datetime.strptime(raw_date, "%Y%m%d").replace(tzinfo=BEIJING)
    except ValueError:
        raise CommFail("invalid bill_date") from None
    today = datetime.fromtimestamp(now, BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    if day >= today or day < today - timedelta(days=92):  # from the next day, for three months
        raise NoBill("invalid bill_date", "20001")
    bill_type = fields.get("bill_type") or "ALL"
    if bill_type not in BILL_TYPES:
        raise NoBill("invalid bill_type", "20001")
    text = bill_text(state, fields["mch_id"], day.strftime("%Y-%m-%d"), bill_type)
    if text is None:
        raise NoBill("No Bill Exist", "20002")
    data = text.encode("utf-8")
    return gzip.compress(data) if fields.get("tar_type") == "GZIP" else data
