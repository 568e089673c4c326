"""The reconciliation's DuckDB scratch database: bounded memory, exact comparisons, clear failures."""

import gzip
from pathlib import Path

import pytest

from silverpay.errors import SilverpayError
from silverpay.service.reconcile_sql import (
    BILL_ONLY_PAYMENTS,
    FIELD,
    LOCAL_ONLY_PAYMENTS,
    PAYMENT_AMOUNTS_DIFFER,
    RECORD,
    Scratch,
)
from silverpay.wechat.v2 import bill


def number(i: int) -> str:
    return f"SP{i:026d}"


def write_bill(path: Path, numbers: range, fen: dict[int, int]) -> None:
    template = bill.format_row(bill.Row(time="2026-11-26 10:00:00", appid="wx1", mch_id="1900000109",
                                        transaction_id="TX", out_trade_no="NO", openid="o1", trade_state="SUCCESS",
                                        settlement_fen=12345))  # fmt: skip
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        out.write(bill.HEADER + "\r\n")
        for i in numbers:
            line = template.replace("`TX,`NO,", f"`42{i:026d},`{number(i)},")
            out.write(line.replace("`123.45", f"`{fen[i] // 100}.{fen[i] % 100:02d}") + "\r\n")
        out.write(bill.SUMMARY_HEADER + "\r\n" + bill.format_summary(len(numbers), sum(fen[i] for i in numbers), 0))


@pytest.mark.slow
def test_more_than_the_memory_limit_spills_to_disk_and_stays_exact(tmp_path: Path) -> None:
    rows = 200_000
    fen = {i: 1 + i * 7919 % 1_000_000 for i in range(rows + 2)}
    write_bill(tmp_path / "bill.txt.gz", range(1, rows + 1), fen)
    local = {i: fen[i] for i in range(2, rows + 2)}  # 1 only at WeChat, rows + 1 only here
    local[77_777] += 1
    (tmp_path / "scratch").mkdir()
    scratch = Scratch(tmp_path / "scratch", memory_limit="40MB", threads=2)  # the tables alone take more
    try:
        sums = scratch.load_bill(tmp_path / "bill.txt.gz")
        assert (sums.lines, sums.paid_fen) == (rows, sum(fen[i] for i in range(1, rows + 1)))
        items = list(local.items())
        for first in range(0, len(items), 50_000):
            batch = items[first : first + 50_000]
            scratch.add_payments(RECORD.join(f"{number(i)}{FIELD}{amount}" for i, amount in batch), len(batch))
        scratch.compare()
        assert sum(f.stat().st_size for f in (tmp_path / "scratch" / "spill").iterdir()) > 0
        assert list(scratch.rows(BILL_ONLY_PAYMENTS)) == [(number(1), fen[1])]
        assert list(scratch.rows(LOCAL_ONLY_PAYMENTS)) == [(number(rows + 1), fen[rows + 1])]
        assert list(scratch.rows(PAYMENT_AMOUNTS_DIFFER)) == [(number(77_777), fen[77_777], fen[77_777] + 1)]
        assert scratch.bill_rows() == rows
    finally:
        scratch.close()


def test_too_little_memory_is_said_so_not_blamed_on_the_bill(tmp_path: Path) -> None:
    write_bill(tmp_path / "bill.txt.gz", range(1000), {i: 100 + i for i in range(1000)})
    (tmp_path / "scratch").mkdir()
    scratch = Scratch(tmp_path / "scratch", memory_limit="1MB", threads=2)
    try:
        with pytest.raises(SilverpayError) as failed:
            scratch.load_bill(tmp_path / "bill.txt.gz")
        assert failed.value.code == "RECONCILE_MEMORY" and "memory_limit=1MB" in failed.value.message
    finally:
        scratch.close()


def test_a_local_value_holding_a_separator_is_refused(tmp_path: Path) -> None:
    """Rows travel as FIELD/RECORD text: a value containing either must stop the run, not shift the rows."""
    (tmp_path / "scratch").mkdir()
    scratch = Scratch(tmp_path / "scratch")
    try:
        with pytest.raises(SilverpayError, match="local rows did not load") as refused:
            scratch.add_payments(f"SP1{FIELD}100{RECORD}SP{RECORD}2{FIELD}200", 2)  # "SP\n2" split in two
        assert refused.value.code == "RECONCILE_LOCAL"
    finally:
        scratch.close()
