"""The v2 trade bill (SPEC §2.9): plain text, every field prefixed with a backtick, amounts in yuan,
a header line, data lines, then a summary header and a summary line. Written by the simulator;
reconciliation reads it with DuckDB (``service/reconcile_sql.py``), by the rules stated here.
:func:`parse` is the same reading in plain Python, for tests of the format and of the simulator."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from silverpay.domain.money import format_yuan
from silverpay.errors import ProtocolError
from silverpay.wechat.gateway import BillLine, BillPayment, BillRefund, BillTotals

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
COLUMNS = {name: i for i, name in enumerate(HEADER.split(","))}
SUMMARY_COLUMNS = len(SUMMARY_HEADER.split(","))
# An amount is whole yuan, a dot and exactly two decimals: nothing else is read as money (no sign,
# no exponent, no rounding). The same pattern is used in SQL by reconciliation.
AMOUNT_PATTERN = r"[0-9]+\.[0-9]{2}"
_AMOUNT = re.compile(AMOUNT_PATTERN + r"\Z")
FEE_PER_MILLE = 6  # 0.6 %, the usual mini-program rate


@dataclass(frozen=True)
class Row:
    """One bill line as the platform writes it (amounts in fen; formatting happens here)."""

    time: str  # yyyy-MM-dd HH:mm:ss, Beijing
    appid: str
    mch_id: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_state: str  # SUCCESS for a payment, REFUND for a refund
    settlement_fen: int
    refund_id: str = ""
    out_refund_no: str = ""
    refund_fen: int = 0
    refund_status: str = ""
    body: str = ""
    attach: str = ""


def _fee(fen: int) -> str:
    whole, rest = divmod(fen * FEE_PER_MILLE, 100_000)  # 1/100000 yuan units
    return f"{whole}.{rest:05d}"


def format_row(row: Row) -> str:
    fields = [
        row.time, row.appid, row.mch_id, "", "", row.transaction_id, row.out_trade_no, row.openid, "JSAPI",
        row.trade_state, "OTHERS", "CNY", format_yuan(row.settlement_fen), "0.00", row.refund_id or "0",
        row.out_refund_no or "0", format_yuan(row.refund_fen), "0.00", "ORIGINAL" if row.refund_id else "",
        row.refund_status, row.body.replace(",", "，"), row.attach.replace(",", "，"), _fee(row.settlement_fen),
        "0.60%", format_yuan(row.settlement_fen), format_yuan(row.refund_fen), "",
    ]  # fmt: skip
    return "".join(f"`{f}," for f in fields)[:-1]


def format_summary(rows: int, settlement_fen: int, refund_fen: int) -> str:
    fields = [str(rows), format_yuan(settlement_fen), format_yuan(refund_fen), "0.00", _fee(settlement_fen),
              format_yuan(settlement_fen), format_yuan(refund_fen)]  # fmt: skip
    return ",".join(f"`{f}" for f in fields)


# Column positions, looked up once rather than per line.
_STATE, _OUT_TRADE_NO, _TRANSACTION_ID = COLUMNS["交易状态"], COLUMNS["商户订单号"], COLUMNS["微信订单号"]
_SETTLEMENT, _OUT_REFUND_NO, _REFUND = COLUMNS["应结订单金额"], COLUMNS["商户退款单号"], COLUMNS["退款金额"]
_REFUND_STATUS = COLUMNS["退款状态"]


def _fields(line: str) -> list[str]:
    if not line.startswith("`"):
        raise ProtocolError("bill line does not start with a backtick", code="BILL_FORMAT")
    return line[1:].split(",`")


def amount_fen(text: str) -> int:
    """A bill amount in yuan (``"123.45"``) as fen (``12345``), exactly: the text is split on its dot,
    never read as a float. Raises ValueError for anything but :data:`AMOUNT_PATTERN`."""
    if not _AMOUNT.match(text):
        raise ValueError(f"not a bill amount: {text!r}")
    return int(text[:-3]) * 100 + int(text[-2:])


def parse(lines: Iterable[str]) -> Iterator[BillLine]:
    """Stream the records of a bill; the totals come last. Raises ProtocolError on a malformed bill."""
    iterator = iter(lines)
    header = next(iterator, "").strip().lstrip("\ufeff")
    if header != HEADER:
        raise ProtocolError("unexpected bill header", code="BILL_FORMAT")
    count = len(COLUMNS)
    for raw in iterator:
        line = raw.rstrip("\r\n")
        if not line:
            continue
        if line == SUMMARY_HEADER:
            totals = _fields(next(iterator, "").rstrip("\r\n"))
            try:
                if len(totals) != SUMMARY_COLUMNS or not re.fullmatch("[0-9]+", totals[0]):
                    raise ValueError(totals[0])
                yield BillTotals(int(totals[0]), amount_fen(totals[1]), amount_fen(totals[2]))
            except (ValueError, IndexError):
                raise ProtocolError("malformed bill summary", code="BILL_FORMAT") from None
            return
        if line[0] != "`":
            raise ProtocolError("bill line does not start with a backtick", code="BILL_FORMAT")
        fields = line[1:].split(",`")
        if len(fields) != count:
            raise ProtocolError(f"bill line has {len(fields)} fields, expected {count}", code="BILL_FORMAT")
        try:
            if fields[_STATE] == "REFUND":
                yield BillRefund(fields[_OUT_TRADE_NO], fields[_OUT_REFUND_NO], amount_fen(fields[_REFUND]),
                                 fields[_REFUND_STATUS])  # fmt: skip
            else:
                yield BillPayment(fields[_OUT_TRADE_NO], fields[_TRANSACTION_ID], amount_fen(fields[_SETTLEMENT]))
        except ValueError:
            raise ProtocolError("malformed amount in bill", code="BILL_FORMAT") from None
    raise ProtocolError("bill has no summary", code="BILL_FORMAT")
