"""The v2 bill text: what the simulator writes, reconciliation reads back exactly.

Two readers follow the same rules: DuckDB's (what reconciliation uses) and the plain Python one."""

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from silverpay.errors import ProtocolError
from silverpay.service.reconcile_sql import BILL_ONLY_PAYMENTS, BILL_ONLY_REFUNDS, BillSums, Scratch
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


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Scratch]:
    (tmp_path / "scratch").mkdir()
    opened = Scratch(tmp_path / "scratch")
    yield opened
    opened.close()


def load(scratch: Scratch, tmp_path: Path, text_lines: list[str], *, compress: bool = True) -> BillSums:
    """Write the bill as WeChat serves it (CRLF, gzip) and read it with DuckDB."""
    data = "".join(line + "\r\n" for line in text_lines).encode()
    path = tmp_path / "bill.txt.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    return scratch.load_bill(path)


def payment(no: int, yuan: str) -> str:
    row = bill.format_row(bill.Row(time="2026-11-26 10:00:00", appid="wx1", mch_id="1900000109",
                                   transaction_id=f"42{no:08d}", out_trade_no=f"SP{no:08d}", openid="o1",
                                   trade_state="SUCCESS", settlement_fen=12345))  # fmt: skip
    return row.replace("`123.45", f"`{yuan}", 1)


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
        lines(PAYMENT)[:-1],  # a summary header, no summary
        lines(PAYMENT, summary="`1,`123.45,`3.45"),  # a summary of 3 fields
        lines(PAYMENT, summary=bill.format_summary(1, 12345, 345).replace("`3.45", "`3.4")),
        lines(PAYMENT, summary=bill.format_summary(1, 12345, 345).replace("`1,", "`one,")),
        [*lines(PAYMENT)[:2], bill.format_row(PAYMENT) + ",`extra", *lines(PAYMENT)[2:]],  # 28 fields
        [*lines(PAYMENT)[:2], bill.format_row(PAYMENT)[1:], *lines(PAYMENT)[2:]],  # no backtick, right count
    ],
)
def test_malformed_bills_are_refused(broken: list[str], scratch: Scratch, tmp_path: Path) -> None:
    with pytest.raises(ProtocolError) as python:
        list(bill.parse(broken))
    with pytest.raises(ProtocolError) as duckdb:
        load(scratch, tmp_path, broken)
    assert python.value.code == duckdb.value.code == "BILL_FORMAT"


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


@pytest.mark.parametrize(
    ("text", "fen"), [("0.00", 0), ("0.01", 1), ("0.10", 10), ("1.00", 100), ("12345678.99", 1234567899)]
)
def test_duckdb_reads_amounts_as_exact_fen(text: str, fen: int, scratch: Scratch, tmp_path: Path) -> None:
    sums = load(scratch, tmp_path, [bill.HEADER, payment(1, text), payment(2, "0.01"), bill.SUMMARY_HEADER,
                                    bill.format_summary(2, fen + 1, 0)])  # fmt: skip
    assert (sums.lines, sums.paid_fen, sums.totals) == (2, fen + 1, BillTotals(2, fen + 1, 0))
    scratch.compare()  # nothing local: every payment in the bill is WeChat's alone
    assert list(scratch.rows(BILL_ONLY_PAYMENTS)) == [("SP00000001", fen), ("SP00000002", 1)]


@pytest.mark.parametrize("text", ["1.5", "1.005", "-0.01", "1e3", "1", "1.", "1,000.00", "99999999999999999999.00"])
def test_duckdb_refuses_other_amounts(text: str, scratch: Scratch, tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="malformed amount") as refused:
        load(scratch, tmp_path, [bill.HEADER, payment(1, text), bill.SUMMARY_HEADER, bill.format_summary(1, 0, 0)])
    assert repr(text) in refused.value.message


def test_a_large_bill_reads_the_same_both_ways(scratch: Scratch, tmp_path: Path) -> None:
    """Tens of thousands of lines (DuckDB reads them in many vectors and buffers), payments and refunds,
    with a repeated number and a summary that does not add up: both readers see the same numbers."""
    rows = []
    for i in range(40_000):
        kind = "REFUND" if i % 7 == 0 else "SUCCESS"
        rows.append(bill.Row(time="2026-11-26 10:00:00", appid="wx1", mch_id="1900000109",
                             transaction_id=f"42{i:010d}", out_trade_no=f"SP{i:010d}", openid="o1", trade_state=kind,
                             settlement_fen=0 if kind == "REFUND" else 1 + i * 37 % 100_000,
                             refund_id=f"50{i:010d}" if kind == "REFUND" else "",
                             out_refund_no=f"RF{i:010d}" if kind == "REFUND" else "",
                             refund_fen=i % 1000 + 1 if kind == "REFUND" else 0,
                             refund_status="SUCCESS" if kind == "REFUND" else ""))  # fmt: skip
    rows.append(rows[1])  # WeChat listing one payment twice
    text = [bill.HEADER, *map(bill.format_row, rows), bill.SUMMARY_HEADER, bill.format_summary(len(rows), 1, 2)]
    parsed = list(bill.parse(text))
    paid = sum(line.amount_fen for line in parsed if isinstance(line, BillPayment))
    refunded = sum(line.refund_fen for line in parsed if isinstance(line, BillRefund))

    sums = load(scratch, tmp_path, text)
    assert (sums.lines, sums.paid_fen, sums.refunded_fen) == (len(rows), paid, refunded)
    assert sums.totals == parsed[-1] == BillTotals(len(rows), 1, 2)  # reported as TOTALS_MISMATCH, not refused
    scratch.compare()
    assert scratch.bill_rows() == len(rows) - 1  # the repeated payment is compared once
    assert len(list(scratch.rows(BILL_ONLY_PAYMENTS))) == len([r for r in rows[:-1] if r.trade_state == "SUCCESS"])
    by_refund = {no: fen for no, _, fen in scratch.rows(BILL_ONLY_REFUNDS)}
    assert by_refund == {line.out_refund_no: line.refund_fen for line in parsed if isinstance(line, BillRefund)}


def test_a_plain_text_bill_is_read_too(scratch: Scratch, tmp_path: Path) -> None:
    sums = load(scratch, tmp_path, ["\ufeff" + bill.HEADER, *lines(PAYMENT, REFUND)[1:]], compress=False)
    assert (sums.lines, sums.paid_fen, sums.refunded_fen, sums.totals) == (2, 12345, 345, BillTotals(2, 12345, 345))


def test_a_damaged_gzip_bill_is_refused(scratch: Scratch, tmp_path: Path) -> None:
    path = tmp_path / "bill.txt.gz"
    body = "".join(bill.format_row(PAYMENT) + "\r\n" for _ in range(5000))
    path.write_bytes(gzip.compress((bill.HEADER + "\r\n" + body).encode())[:-2000])  # cut short
    with pytest.raises(ProtocolError, match="cannot be read"):
        scratch.load_bill(path)
