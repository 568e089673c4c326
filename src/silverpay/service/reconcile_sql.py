"""The scratch database of a reconciliation, in DuckDB: WeChat's bill read straight from its gzip
file, the day's local rows added in batches, the comparisons as SQL joins.

Memory stays bounded whatever the bill's size: DuckDB keeps its tables and hash tables within
``memory_limit`` and spills what does not fit into a directory on disk; the CSV reader works
through small buffers. The bill is read by DuckDB's CSV reader with a comma and a backtick as the
delimiter (no quoting), the same split as :func:`silverpay.wechat.v2.bill.parse`, and checked by
the same rules: the header, 27 fields a line, every line starting with a backtick, amounts exactly
``[0-9]+.[0-9]{2}`` turned into fen by dropping the dot (never through a float), one summary.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from silverpay.errors import ProtocolError, SilverpayError
from silverpay.wechat.gateway import BillTotals
from silverpay.wechat.v2 import bill

MEMORY_LIMIT = "96MB"  # DuckDB's own (tables, hash tables); Python, drivers and CSV buffers come on top
CSV_BUFFER = 4 << 20  # the CSV reader's buffer: its default (32 MiB a thread) would cost more than the table
FETCH = 5000
FIELD, RECORD = "\x1f", "\n"  # how local rows travel as text (the identifiers are [A-Za-z0-9_-|*@])
GZIP_MAGIC = b"\x1f\x8b"

_BILL_FIELDS = len(bill.COLUMNS)
_C = {name: f"c{i}" for name, i in bill.COLUMNS.items()}
_STATE, _OUT_TRADE_NO, _OUT_REFUND_NO = _C["交易状态"], _C["商户订单号"], _C["商户退款单号"]
_SETTLEMENT, _REFUND = _C["应结订单金额"], _C["退款金额"]
_LAST = f"c{_BILL_FIELDS - 1}"
_FIELD_COUNT = " + ".join(f"(c{i} IS NOT NULL)::INTEGER" for i in range(_BILL_FIELDS))
_SUMMARY_LAST, _AFTER_SUMMARY = f"c{bill.SUMMARY_COLUMNS - 1}", f"c{bill.SUMMARY_COLUMNS}"

SCHEMA = """
CREATE TYPE line_kind AS ENUM ('P', 'R', 'H', 'S', 'X');
CREATE TABLE bill_line (kind line_kind, out_trade_no VARCHAR, out_refund_no VARCHAR, fen BIGINT, summary VARCHAR[]);
CREATE TABLE local_pay (out_trade_no VARCHAR, amount BIGINT);
CREATE TABLE local_refund (out_refund_no VARCHAR, out_trade_no VARCHAR, amount BIGINT);
"""

# Every line of the bill but the first (the header, checked on its own), in one pass over the file.
# A line is P (payment), R (refund), H (the summary header: one "field", as it has plain commas), S
# (the summary: 7 fields) or X (malformed). Padding marks missing fields NULL; no text reads as NULL.
# Only the columns a query uses are computed: the field count, for instance, only when diagnosing.
LINES = f"""
SELECT
    CASE WHEN regexp_full_match(yuan, $amount) THEN TRY_CAST(replace(yuan, '.', '') AS BIGINT) END AS fen,
    starts_with(c0, '`') AS ticked,
    CASE WHEN {_LAST} IS NOT NULL THEN
             CASE WHEN NOT ticked OR fen IS NULL THEN 'X' WHEN {_STATE} = 'REFUND' THEN 'R' ELSE 'P' END
         WHEN c1 IS NULL AND c0 = $summary_header THEN 'H'
         WHEN {_SUMMARY_LAST} IS NOT NULL AND {_AFTER_SUMMARY} IS NULL AND ticked THEN 'S'
         ELSE 'X' END AS kind,
    {_OUT_TRADE_NO} AS out_trade_no,
    CASE WHEN {_STATE} = 'REFUND' THEN {_OUT_REFUND_NO} END AS out_refund_no,
    CASE WHEN {_LAST} IS NULL THEN [c0, c1, c2] END AS summary,
    {_FIELD_COUNT} AS fields,
    yuan
FROM (
    SELECT *, CASE WHEN {_STATE} = 'REFUND' THEN {_REFUND} ELSE {_SETTLEMENT} END AS yuan
    FROM read_csv($path, columns = $columns, delim = ',`', quote = '', escape = '', header = false, skip = 1,
                  null_padding = true, nullstr = $never, strict_mode = true, auto_detect = false,
                  compression = $compression, buffer_size = {CSV_BUFFER})
)
"""  # noqa: S608 (column names from bill.COLUMNS, values bound)
READ_BILL = f"""
INSERT INTO bill_line SELECT kind, out_trade_no, out_refund_no, fen, summary FROM ({LINES})
"""  # noqa: S608
FIRST_MALFORMED = f"SELECT fields, ticked, yuan FROM ({LINES}) WHERE kind = 'X' LIMIT 1"  # noqa: S608
CHECK_BILL = """
SELECT count(*) FILTER (kind IN ('P', 'R')),
       count(*) FILTER (kind = 'X'),
       count(*) FILTER (kind = 'H'),
       count(*) FILTER (kind = 'S'),
       coalesce(sum(fen) FILTER (kind = 'P'), 0),
       coalesce(sum(fen) FILTER (kind = 'R'), 0)
FROM bill_line
"""

# The comparisons: for each side, one full join finds the rows missing on either side and the
# differing amounts, and keeps only those (few) rows. A number WeChat lists twice is joined twice,
# and read back once below; the totals check counts it once (BILL_ROW_COUNT) and reports the repeat.
DIFFER = """
CREATE TABLE pay_diff AS
SELECT b.out_trade_no AS bill_no, l.out_trade_no AS local_no, b.fen AS wechat, l.amount AS local
FROM (SELECT out_trade_no, fen FROM bill_line WHERE kind = 'P') b
FULL JOIN local_pay l ON b.out_trade_no = l.out_trade_no
WHERE b.fen IS DISTINCT FROM l.amount;
CREATE TABLE refund_diff AS
SELECT b.out_refund_no AS bill_no, l.out_refund_no AS local_no, b.out_trade_no AS bill_trade,
       l.out_trade_no AS local_trade, b.fen AS wechat, l.amount AS local
FROM (SELECT out_refund_no, out_trade_no, fen FROM bill_line WHERE kind = 'R') b
FULL JOIN local_refund l ON b.out_refund_no = l.out_refund_no
WHERE b.fen IS DISTINCT FROM l.amount;
"""
# The bill's numbers, each once, without grouping a million rows: every local number is either
# matched in the bill or in the diff as local-only (local numbers are unique), and the bill's
# unmatched numbers are all in the diff.
BILL_ROW_COUNT = """
SELECT (SELECT count(*) FROM local_pay) - (SELECT count(*) FROM pay_diff WHERE bill_no IS NULL)
     + (SELECT count(DISTINCT bill_no) FROM pay_diff WHERE local_no IS NULL)
     + (SELECT count(*) FROM local_refund) - (SELECT count(*) FROM refund_diff WHERE bill_no IS NULL)
     + (SELECT count(DISTINCT bill_no) FROM refund_diff WHERE local_no IS NULL)
"""
BILL_ONLY_PAYMENTS = ("SELECT bill_no, min(wechat) FROM pay_diff WHERE local_no IS NULL "
                      "GROUP BY bill_no ORDER BY bill_no")  # fmt: skip
LOCAL_ONLY_PAYMENTS = "SELECT local_no, local FROM pay_diff WHERE bill_no IS NULL ORDER BY local_no"
PAYMENT_AMOUNTS_DIFFER = ("SELECT bill_no, min(wechat), min(local) FROM pay_diff WHERE bill_no IS NOT NULL "
                          "AND local_no IS NOT NULL GROUP BY bill_no ORDER BY bill_no")  # fmt: skip
BILL_ONLY_REFUNDS = ("SELECT bill_no, min(bill_trade), min(wechat) FROM refund_diff WHERE local_no IS NULL "
                     "GROUP BY bill_no ORDER BY bill_no")  # fmt: skip
LOCAL_ONLY_REFUNDS = ("SELECT local_no, local_trade, local FROM refund_diff WHERE bill_no IS NULL "
                      "ORDER BY local_no")  # fmt: skip
REFUND_AMOUNTS_DIFFER = ("SELECT bill_no, min(bill_trade), min(wechat), min(local) FROM refund_diff "
                         "WHERE bill_no IS NOT NULL AND local_no IS NOT NULL "
                         "GROUP BY bill_no ORDER BY bill_no")  # fmt: skip

# Local rows arrive as FIELD/RECORD text; DuckDB's CSV reader (parallel) takes each batch from a file.
_LOCAL_CSV = ("read_csv($path, columns = $columns, delim = $field, new_line = '\\n', quote = '', escape = '', "
              "header = false, strict_mode = true, auto_detect = false)")  # fmt: skip
ADD_PAYMENTS = f"INSERT INTO local_pay SELECT * FROM {_LOCAL_CSV}"  # noqa: S608
ADD_REFUNDS = f"INSERT INTO local_refund SELECT * FROM {_LOCAL_CSV}"  # noqa: S608
PAYMENT_COLUMNS = {"out_trade_no": "VARCHAR", "amount": "BIGINT"}
REFUND_COLUMNS = {"out_refund_no": "VARCHAR", "out_trade_no": "VARCHAR", "amount": "BIGINT"}


@dataclass(frozen=True)
class BillSums:
    """What the bill's lines add up to, beside what its summary says."""

    lines: int  # data lines, a repeated number counted each time
    paid_fen: int
    refunded_fen: int
    totals: BillTotals


def bill_error(message: str) -> ProtocolError:
    return ProtocolError(message, code="BILL_FORMAT")


def opens_as_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(2) == GZIP_MAGIC


def check_header(path: Path, *, compressed: bool) -> None:
    """The first line must be WeChat's header (a BOM before it is allowed)."""
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as raw:
            first = raw.readline(len(bill.HEADER.encode()) * 2)
    except (OSError, EOFError):
        raise bill_error("the bill cannot be read: not valid gzip") from None
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
    """One reconciliation's DuckDB database, in memory, spilling into ``directory``.

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
        self._directory = directory
        self._memory_limit = memory_limit
        self._db = duckdb.connect(":memory:", config=config)
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            cursor = self._db.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def close(self) -> None:
        self._db.close()

    def load_bill(self, path: Path) -> BillSums:
        """Read and check the bill at ``path`` (gzip, or plain text); raises ProtocolError if malformed."""
        compressed = opens_as_gzip(path)
        check_header(path, compressed=compressed)
        params = {
            "path": str(path), "columns": {f"c{i}": "VARCHAR" for i in range(_BILL_FIELDS)},
            "compression": "gzip" if compressed else "none", "summary_header": bill.SUMMARY_HEADER,
            "amount": bill.AMOUNT_PATTERN, "never": "\x00",
        }  # fmt: skip
        with self._cursor() as cursor:
            try:
                cursor.execute(READ_BILL, params)
            except (duckdb.InvalidInputException, duckdb.ConversionException) as error:
                raise bill_error(f"the bill cannot be read: {_first_line(error)}") from None
            except duckdb.IOException as error:
                if "gzip" not in str(error).lower():
                    raise self._failure("reading the bill", error) from None
                raise bill_error(f"the bill cannot be read: {_first_line(error)}") from None
            except duckdb.Error as error:
                raise self._failure("reading the bill", error) from None
            lines, malformed, headers, summaries, paid, refunded = _one(cursor, CHECK_BILL)
            if malformed:
                _diagnose(cursor, params)
            if headers == 0 and summaries == 0:
                raise bill_error("bill has no summary")
            if headers != 1 or summaries != 1:
                raise bill_error("malformed bill summary")
            (summary,) = _one(cursor, "SELECT summary FROM bill_line WHERE kind = 'S'")
        return BillSums(lines, int(paid), int(refunded), summary_totals(*summary))

    def add_payments(self, text: str, count: int) -> None:
        """``count`` local payments, ``out_trade_no FIELD amount_fen`` each, RECORD between them."""
        self._add(ADD_PAYMENTS, PAYMENT_COLUMNS, text, count)

    def add_refunds(self, text: str, count: int) -> None:
        """``count`` local refunds, ``out_refund_no FIELD out_trade_no FIELD amount_fen`` each."""
        self._add(ADD_REFUNDS, REFUND_COLUMNS, text, count)

    def _add(self, sql: str, columns: dict[str, str], text: str, count: int) -> None:
        if not count:
            return
        batch = self._directory / "local-batch.txt"
        batch.write_text(text + RECORD, encoding="utf-8")
        with self._cursor() as cursor:
            try:
                (added,) = _one(cursor, sql, {"path": str(batch), "columns": columns, "field": FIELD})
            except (duckdb.InvalidInputException, duckdb.ConversionException) as error:
                raise SilverpayError(f"local rows did not load: {_first_line(error)}", code="RECONCILE_LOCAL") from None
            except duckdb.Error as error:
                raise self._failure("loading local rows", error) from None
        if added != count:  # a separator inside a value would shift rows: refuse rather than compare wrongly
            raise SilverpayError(f"local rows did not load: {added} of {count}", code="RECONCILE_LOCAL")

    def compare(self) -> None:
        with self._cursor() as cursor:
            try:
                cursor.execute(DIFFER)
            except duckdb.Error as error:
                raise self._failure("comparing", error) from None

    def _failure(self, step: str, error: duckdb.Error) -> SilverpayError:
        """DuckDB failing for want of resources (or anything else that is not the bill's fault)."""
        if isinstance(error, duckdb.OutOfMemoryException):
            return SilverpayError(f"{step}: DuckDB needs more than memory_limit={self._memory_limit}: "
                                  f"{_first_line(error)}", code="RECONCILE_MEMORY")  # fmt: skip
        return SilverpayError(f"{step}: {_first_line(error)} (scratch space: {self._directory})",
                              code="RECONCILE_SCRATCH")  # fmt: skip

    def bill_rows(self) -> int:
        """Payments and refunds in the bill, each number once (after :meth:`compare`)."""
        with self._cursor() as cursor:
            return int(_one(cursor, BILL_ROW_COUNT)[0])

    def rows(self, sql: str) -> Iterator[tuple[Any, ...]]:
        with self._cursor() as cursor:
            cursor.execute(sql)
            while chunk := cursor.fetchmany(FETCH):
                yield from chunk


def _diagnose(cursor: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> None:
    """Say what is wrong with the first malformed line (reading the bill again: this is the error path)."""
    fields, ticked, yuan = _one(cursor, FIRST_MALFORMED, params)
    if fields not in (_BILL_FIELDS, bill.SUMMARY_COLUMNS):
        raise bill_error(f"bill line has {fields} fields, expected {_BILL_FIELDS}")
    if not ticked:
        raise bill_error("bill line does not start with a backtick")
    if fields == _BILL_FIELDS:
        raise bill_error(f"malformed amount in bill: {yuan!r}")
    raise bill_error("malformed bill summary")


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _one(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
    row = cursor.execute(sql, params).fetchone()
    if row is None:  # every query passed here is an aggregate: no row is a bug, not a bill problem
        raise SilverpayError("a reconciliation query answered no row", code="RECONCILE_INTERNAL")
    return row
