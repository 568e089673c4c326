"""The scratch database of a reconciliation, in DuckDB: WeChat's bill read straight from its gzip
file, the day's local rows added in batches, the comparisons as SQL joins.

Memory stays bounded whatever the bill's size: DuckDB keeps to ``memory_limit`` and spills what does
not fit into a directory on disk. The bill is read by DuckDB's CSV reader with a comma and a backtick
as the delimiter (no quoting), the same split as :func:`silverpay.wechat.v2.bill.parse`, and checked by
the same rules: the header, 27 fields a line, every line starting with a backtick, amounts exactly
``[0-9]+.[0-9]{2}`` turned into fen by dropping the dot (never through a float), one summary.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from silverpay.errors import ProtocolError
from silverpay.wechat.gateway import BillTotals
from silverpay.wechat.v2 import bill

MEMORY_LIMIT = "160MB"  # DuckDB's buffers; the rest of the process (Python, drivers) comes on top
FETCH = 5000
FIELD, RECORD = "\x1f", "\n"  # how local rows travel as text (the identifiers are [A-Za-z0-9_-|*@])
GZIP_MAGIC = b"\x1f\x8b"

_BILL_FIELDS = len(bill.COLUMNS)
_C = {name: f"c{i}" for name, i in bill.COLUMNS.items()}
_STATE, _OUT_TRADE_NO, _OUT_REFUND_NO = _C["交易状态"], _C["商户订单号"], _C["商户退款单号"]
_SETTLEMENT, _REFUND = _C["应结订单金额"], _C["退款金额"]
_LAST = f"c{_BILL_FIELDS - 1}"
_FIELD_COUNT = " + ".join(f"(c{i} IS NOT NULL)::INTEGER" for i in range(_BILL_FIELDS))

SCHEMA = """
CREATE TABLE bill_line (kind VARCHAR, ticked BOOLEAN, out_trade_no VARCHAR, out_refund_no VARCHAR, fen BIGINT,
                        bad_amount VARCHAR, fields INTEGER, s0 VARCHAR, s1 VARCHAR, s2 VARCHAR);
CREATE TABLE bill_pay (out_trade_no VARCHAR, amount BIGINT);
CREATE TABLE bill_refund (out_refund_no VARCHAR, out_trade_no VARCHAR, amount BIGINT);
CREATE TABLE local_pay (out_trade_no VARCHAR, amount BIGINT);
CREATE TABLE local_refund (out_refund_no VARCHAR, out_trade_no VARCHAR, amount BIGINT);
"""

# Every line of the bill but the first (the header, checked on its own), in one pass over the file.
# A line is P (payment), R (refund), H (the summary header: one "field", plain commas), S (the
# summary: 7 fields) or X (malformed). Padding marks missing fields NULL; no text reads as NULL.
READ_BILL = f"""
INSERT INTO bill_line (kind, ticked, out_trade_no, out_refund_no, fen, bad_amount, fields, s0, s1, s2)
SELECT
    CASE WHEN {_LAST} IS NOT NULL THEN CASE WHEN {_STATE} = 'REFUND' THEN 'R' ELSE 'P' END
         WHEN c1 IS NULL AND c0 = $summary_header THEN 'H'
         WHEN c{bill.SUMMARY_COLUMNS - 1} IS NOT NULL AND c{bill.SUMMARY_COLUMNS} IS NULL THEN 'S'
         ELSE 'X' END,
    starts_with(c0, '`'),
    {_OUT_TRADE_NO},
    {_OUT_REFUND_NO},
    CASE WHEN regexp_full_match(yuan, $amount) THEN TRY_CAST(replace(yuan, '.', '') AS BIGINT) END AS fen,
    CASE WHEN {_LAST} IS NOT NULL AND fen IS NULL THEN yuan END,
    CASE WHEN {_LAST} IS NULL THEN {_FIELD_COUNT} END,
    CASE WHEN {_LAST} IS NULL THEN c0 END,
    CASE WHEN {_LAST} IS NULL THEN c1 END,
    CASE WHEN {_LAST} IS NULL THEN c2 END
FROM (
    SELECT *, CASE WHEN {_STATE} = 'REFUND' THEN {_REFUND} ELSE {_SETTLEMENT} END AS yuan
    FROM read_csv($path, columns = $columns, delim = ',`', quote = '', escape = '', header = false, skip = 1,
                  null_padding = true, nullstr = $never, strict_mode = true, auto_detect = false,
                  compression = $compression)
)
"""  # noqa: S608 (column names from bill.COLUMNS, values bound)
CHECK_BILL = """
SELECT count(*) FILTER (kind IN ('P', 'R')),
       count(*) FILTER (kind = 'X'),
       count(*) FILTER (kind IN ('P', 'R') AND NOT ticked),
       count(*) FILTER (kind IN ('P', 'R') AND fen IS NULL),
       count(*) FILTER (kind = 'H'),
       count(*) FILTER (kind = 'S'),
       coalesce(sum(fen) FILTER (kind = 'P'), 0),
       coalesce(sum(fen) FILTER (kind = 'R'), 0)
FROM bill_line
"""
# A number repeated in the bill is compared once (its smallest amount); the totals check reports the repeat.
SPLIT_BILL = """
INSERT INTO bill_pay SELECT out_trade_no, min(fen) FROM bill_line WHERE kind = 'P' GROUP BY out_trade_no;
INSERT INTO bill_refund SELECT out_refund_no, min(out_trade_no), min(fen) FROM bill_line WHERE kind = 'R'
    GROUP BY out_refund_no;
DELETE FROM bill_line;
"""
BILL_ROW_COUNT = "SELECT (SELECT count(*) FROM bill_pay) + (SELECT count(*) FROM bill_refund)"
ADD_PAYMENTS = """
INSERT INTO local_pay SELECT f[1], CAST(f[2] AS BIGINT)
FROM (SELECT string_split(unnest(string_split($text, $record)), $field) AS f)
"""
ADD_REFUNDS = """
INSERT INTO local_refund SELECT f[1], f[2], CAST(f[3] AS BIGINT)
FROM (SELECT string_split(unnest(string_split($text, $record)), $field) AS f)
"""

# The comparisons. Each side's missing rows and differing amounts come from one full join; the
# few rows that differ are kept in a table of their own and read three ways.
DIFFER = """
CREATE TABLE pay_diff AS
SELECT b.out_trade_no AS bill_no, l.out_trade_no AS local_no, b.amount AS wechat, l.amount AS local
FROM bill_pay b FULL JOIN local_pay l ON b.out_trade_no = l.out_trade_no
WHERE b.amount IS DISTINCT FROM l.amount;
CREATE TABLE refund_diff AS
SELECT b.out_refund_no AS bill_no, l.out_refund_no AS local_no, b.out_trade_no AS bill_trade,
       l.out_trade_no AS local_trade, b.amount AS wechat, l.amount AS local
FROM bill_refund b FULL JOIN local_refund l ON b.out_refund_no = l.out_refund_no
WHERE b.amount IS DISTINCT FROM l.amount;
"""
BILL_ONLY_PAYMENTS = "SELECT bill_no, wechat FROM pay_diff WHERE local_no IS NULL ORDER BY bill_no"
LOCAL_ONLY_PAYMENTS = "SELECT local_no, local FROM pay_diff WHERE bill_no IS NULL ORDER BY local_no"
PAYMENT_AMOUNTS_DIFFER = ("SELECT bill_no, wechat, local FROM pay_diff WHERE bill_no IS NOT NULL "
                          "AND local_no IS NOT NULL ORDER BY bill_no")  # fmt: skip
BILL_ONLY_REFUNDS = "SELECT bill_no, bill_trade, wechat FROM refund_diff WHERE local_no IS NULL ORDER BY bill_no"
LOCAL_ONLY_REFUNDS = ("SELECT local_no, local_trade, local FROM refund_diff WHERE bill_no IS NULL "
                      "ORDER BY local_no")  # fmt: skip
REFUND_AMOUNTS_DIFFER = ("SELECT bill_no, bill_trade, wechat, local FROM refund_diff WHERE bill_no IS NOT NULL "
                         "AND local_no IS NOT NULL ORDER BY bill_no")  # fmt: skip


@dataclass(frozen=True)
class BillSums:
    """What the bill's lines add up to, beside what its summary says."""

    lines: int  # data lines, a repeated number counted each time
    paid_fen: int
    refunded_fen: int
    totals: BillTotals


def bill_error(message: str) -> ProtocolError:
    return ProtocolError(message, code="BILL_FORMAT")


def _opens_as_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(2) == GZIP_MAGIC


def check_header(path: Path, *, compressed: bool) -> None:
    """The first line must be WeChat's header (a BOM before it is allowed)."""
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as raw:
            first = raw.readline(len(bill.HEADER.encode()) * 2)
    except (OSError, EOFError):
        raise bill_error("the bill is not readable gzip") from None
    if first.decode("utf-8", "replace").strip().lstrip("\ufeff") != bill.HEADER:
        raise bill_error("unexpected bill header")


def summary_totals(s0: str, s1: str, s2: str) -> BillTotals:
    """The summary line: rows, then the paid and refunded totals in yuan (exactly, as the lines are)."""
    if not re.fullmatch("`[0-9]+", s0):
        raise bill_error("malformed bill summary")
    try:
        return BillTotals(int(s0[1:]), bill.amount_fen(s1), bill.amount_fen(s2))
    except ValueError:
        raise bill_error("malformed bill summary") from None


class Scratch:
    """One reconciliation's DuckDB database, in ``directory`` (its spill files go there too).

    The bill and the local rows may be loaded from two threads at once: each call takes a cursor of its own.
    """

    def __init__(self, directory: Path, *, memory_limit: str = MEMORY_LIMIT, threads: int | None = None) -> None:
        config: dict[str, Any] = {
            "memory_limit": memory_limit,
            "temp_directory": str(directory / "spill"),
            "preserve_insertion_order": False,  # nothing here depends on row order; it saves memory
            "autoinstall_known_extensions": False,  # offline: the built-in CSV reader is all we use
            "autoload_known_extensions": False,
        }
        if threads:
            config["threads"] = threads
        self._db = duckdb.connect(str(directory / "scratch.duckdb"), config=config)
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._db.cursor()

    def close(self) -> None:
        self._db.close()

    def load_bill(self, path: Path) -> BillSums:
        """Read and check the bill at ``path`` (gzip, or plain text); raises ProtocolError if malformed."""
        compressed = _opens_as_gzip(path)
        check_header(path, compressed=compressed)
        cursor = self._cursor()
        try:
            params = {
                "path": str(path), "columns": {f"c{i}": "VARCHAR" for i in range(_BILL_FIELDS)},
                "compression": "gzip" if compressed else "none", "summary_header": bill.SUMMARY_HEADER,
                "amount": bill.AMOUNT_PATTERN, "never": "\x00",
            }  # fmt: skip
            try:
                cursor.execute(READ_BILL, params)
            except duckdb.Error as error:
                first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise bill_error(f"the bill cannot be read: {first_line}") from None
            sums = self._check(cursor)
            cursor.execute(SPLIT_BILL)
            return sums
        finally:
            cursor.close()

    def _check(self, cursor: duckdb.DuckDBPyConnection) -> BillSums:
        row = cursor.execute(CHECK_BILL).fetchone()
        assert row is not None
        lines, malformed, unticked, bad_amounts, headers, summaries, paid, refunded = row
        if malformed:
            (fields,) = _one(cursor, "SELECT fields FROM bill_line WHERE kind = 'X' LIMIT 1")
            raise bill_error(f"bill line has {fields} fields, expected {_BILL_FIELDS}")
        if unticked:
            raise bill_error("bill line does not start with a backtick")
        if bad_amounts:
            (text,) = _one(cursor, "SELECT bad_amount FROM bill_line WHERE kind IN ('P', 'R') AND fen IS NULL LIMIT 1")
            raise bill_error(f"malformed amount in bill: {text!r}")
        if headers == 0 and summaries == 0:
            raise bill_error("bill has no summary")
        if headers != 1 or summaries != 1:
            raise bill_error("malformed bill summary")
        s0, s1, s2 = _one(cursor, "SELECT s0, s1, s2 FROM bill_line WHERE kind = 'S'")
        return BillSums(lines, int(paid), int(refunded), summary_totals(s0, s1, s2))

    def add_payments(self, text: str, count: int) -> None:
        """``count`` local payments, ``out_trade_no FIELD amount_fen`` each, RECORD between them."""
        self._add(ADD_PAYMENTS, text, count)

    def add_refunds(self, text: str, count: int) -> None:
        """``count`` local refunds, ``out_refund_no FIELD out_trade_no FIELD amount_fen`` each."""
        self._add(ADD_REFUNDS, text, count)

    def _add(self, sql: str, text: str, count: int) -> None:
        if not count:
            return
        cursor = self._cursor()
        try:
            added = _one(cursor, sql, {"text": text, "record": RECORD, "field": FIELD})[0]
        finally:
            cursor.close()
        if added != count:  # a separator inside a value would shift rows: refuse rather than compare wrongly
            raise ProtocolError(f"local rows did not load: {added} of {count}", code="RECONCILE_LOCAL_ROWS")

    def bill_rows(self) -> int:
        """Payments and refunds in the bill, each number once."""
        cursor = self._cursor()
        try:
            return int(_one(cursor, BILL_ROW_COUNT)[0])
        finally:
            cursor.close()

    def compare(self) -> None:
        cursor = self._cursor()
        try:
            cursor.execute(DIFFER)
        finally:
            cursor.close()

    def rows(self, sql: str) -> Iterator[tuple[Any, ...]]:
        cursor = self._cursor()
        try:
            cursor.execute(sql)
            while chunk := cursor.fetchmany(FETCH):
                yield from chunk
        finally:
            cursor.close()


def _one(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
    row = cursor.execute(sql, params).fetchone()
    assert row is not None, sql  # every query passed here returns one row
    return row
