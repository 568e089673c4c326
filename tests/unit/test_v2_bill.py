"""The v2 bill text: what the simulator writes, reconciliation reads back exactly."""

import pytest

from silverpay.errors import ProtocolError
from silverpay.wechat.gateway import BillPayment, BillRefund, BillTotals
from silverpay.wechat.v2 import bill

PAYMENT = bill.Row(time="2026-11-26 10:00:00", appid="wx1", mch_id="1900000109", transaction_id="4200001",
                   out_trade_no="SP1", openid="o1", trade_state="SUCCESS", settlement_fen=12345,
                   body="coffee, large")  # fmt: skip
REFUND = bill.Row(time="2026-11-26 11:00:00", appid="wx1", mch_id="1900000109", transaction_id="4200001",
                  out_trade_no="SP1", openid="o1", trade_state="REFUND", settlement_fen=0, refund_id="5030",
                  out_refund_no="RF1", refund_fen=345, refund_status="SUCCESS")  # fmt: skip


def lines(*rows: bill.Row, summary: str | None = None) -> list[str]:
    body = [bill.format_row(r) for r in rows]
    return [bill.HEADER, *body, bill.SUMMARY_HEADER, summary or bill.format_summary(len(rows), 12345, 345)]


def test_round_trip() -> None:
    parsed = list(bill.parse(lines(PAYMENT, REFUND)))
    assert parsed == [
        BillPayment("SP1", "4200001", 12345),
        BillRefund("SP1", "RF1", 345, "SUCCESS"),
        BillTotals(2, 12345, 345),
    ]


def test_format_matches_wechats_shape() -> None:
    row = bill.format_row(PAYMENT)
    assert row.startswith("`2026-11-26 10:00:00,`wx1,`1900000109,`,`,`4200001,`SP1,")
    assert row.count(",`") == 26
    assert "`123.45," in row and "`0.74070," in row  # amount in yuan, fee 0.6 % with five decimals
    assert "coffee， large" in row  # a comma in a product name cannot split a field


@pytest.mark.parametrize(
    "broken",
    [
        ["not the header"],
        lines(PAYMENT)[:-2],  # no summary
        [bill.HEADER, "no backtick"],
        [bill.HEADER, "`a,`b"],
        [bill.HEADER, bill.format_row(PAYMENT).replace("`123.45", "`12.345")],
        [bill.HEADER, bill.format_row(PAYMENT).replace("`123.45", "`１２.00")],
    ],
)
def test_malformed_bills_are_refused(broken: list[str]) -> None:
    with pytest.raises(ProtocolError):
        list(bill.parse(broken))


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0.00", 0), ("0.01", 1), ("0.10", 10), ("1.00", 100), ("12345678.99", 1234567899), ("0000.07", 7),
     ("92233720368547758.07", 9223372036854775807)],
)  # fmt: skip
def test_amounts_become_fen_exactly(text: str, fen: int) -> None:
    assert bill.amount_fen(text) == fen


@pytest.mark.parametrize(
    "text", ["1.5", "1.005", "-0.01", "1e3", "1", ".50", "1.", " 1.00", "1.00 ", "+1.00", "1,000.00", "１.００", ""]
)
def test_amounts_other_than_yuan_with_two_decimals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a bill amount"):
        bill.amount_fen(text)
    with pytest.raises(ProtocolError, match="amount"):
        list(bill.parse([bill.HEADER, bill.format_row(PAYMENT).replace("`123.45", f"`{text}", 1)]))
