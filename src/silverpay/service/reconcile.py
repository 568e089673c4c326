"""Daily bill reconciliation (SPEC §2.9): WeChat's bill against local orders and refunds.

Streaming, with memory bounded whatever the bill's size: the bill and the day's local records go
into a scratch SQLite file on disk, and the comparisons are SQL joins there. Only the few rows
that do not match are looked up in the service's own database (and, where WeChat has a payment or
refund that is not settled here, settled from WeChat's record).
"""

from __future__ import annotations

import csv
import logging
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import DateTime, desc, select
from sqlalchemy.dialects import sqlite

from silverpay.beijing import BEIJING
from silverpay.clock import utc
from silverpay.domain.money import format_yuan
from silverpay.domain.orders import PAID_FAMILY, OrderStatus
from silverpay.domain.refunds import RefundStatus
from silverpay.errors import NotFound, UpstreamError
from silverpay.service import payments, refunds
from silverpay.service.context import ServiceContext
from silverpay.store.models import Order, Reconciliation, ReconciliationItem, Refund, UTCDateTime
from silverpay.wechat.gateway import BillLine, BillPayment, BillRefund, BillTotals
from silverpay.wechat.v2 import bill

log = logging.getLogger(__name__)
BATCH = 5000
LOOKUP_CHUNK = 500
SHOWN = 50  # discrepancies printed in the table; all of them go to the CSV and the database

# Comparisons, run in the scratch database.
BILL_ONLY_PAYMENTS = ("SELECT b.out_trade_no, b.amount FROM bill_pay b LEFT JOIN local_pay l USING (out_trade_no) "
                      "WHERE l.out_trade_no IS NULL")  # fmt: skip
LOCAL_ONLY_PAYMENTS = ("SELECT l.out_trade_no, l.amount FROM local_pay l LEFT JOIN bill_pay b USING (out_trade_no) "
                       "WHERE b.out_trade_no IS NULL")  # fmt: skip
PAYMENT_AMOUNTS_DIFFER = ("SELECT out_trade_no, b.amount, l.amount FROM bill_pay b JOIN local_pay l "
                          "USING (out_trade_no) WHERE b.amount != l.amount")  # fmt: skip
BILL_ONLY_REFUNDS = ("SELECT b.out_refund_no, b.out_trade_no, b.amount FROM bill_refund b LEFT JOIN local_refund l "
                     "USING (out_refund_no) WHERE l.out_refund_no IS NULL")  # fmt: skip
LOCAL_ONLY_REFUNDS = ("SELECT l.out_refund_no, l.out_trade_no, l.amount FROM local_refund l LEFT JOIN bill_refund b "
                      "USING (out_refund_no) WHERE b.out_refund_no IS NULL")  # fmt: skip
REFUND_AMOUNTS_DIFFER = ("SELECT out_refund_no, b.out_trade_no, b.amount, l.amount FROM bill_refund b "
                         "JOIN local_refund l USING (out_refund_no) WHERE b.amount != l.amount")  # fmt: skip
BILL_ROW_COUNT = "SELECT (SELECT COUNT(*) FROM bill_pay) + (SELECT COUNT(*) FROM bill_refund)"

SCHEMA = """
CREATE TABLE bill_pay (out_trade_no TEXT PRIMARY KEY, amount INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE bill_refund (out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT, amount INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE local_pay (out_trade_no TEXT PRIMARY KEY, amount INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE local_refund (out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT, amount INTEGER NOT NULL) WITHOUT ROWID;
"""


@dataclass
class Discrepancy:
    kind: str
    out_trade_no: str = ""
    out_refund_no: str = ""
    wechat_fen: int | None = None
    local_fen: int | None = None
    detail: str = ""
    resolved: bool = False


@dataclass
class Report:
    run_id: int
    bill_date: date
    bill_rows: int = 0
    discrepancies: int = 0
    unresolved: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    shown: list[Discrepancy] = field(default_factory=list)
    csv_path: str = ""


def beijing_day(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start, start + timedelta(days=1)


class _Recorder:
    """Writes discrepancies to the CSV and the database as they are found."""

    def __init__(self, ctx: ServiceContext, report: Report, csv_file: Any) -> None:
        self._ctx = ctx
        self._report = report
        self._writer = csv.writer(csv_file)
        self._writer.writerow(["kind", "out_trade_no", "out_refund_no", "wechat_yuan", "local_yuan", "resolved",
                               "detail"])  # fmt: skip
        self._pending: list[ReconciliationItem] = []

    async def add(self, item: Discrepancy) -> None:
        report = self._report
        report.discrepancies += 1
        report.unresolved += 0 if item.resolved else 1
        report.by_kind[item.kind] = report.by_kind.get(item.kind, 0) + 1
        if len(report.shown) < SHOWN:
            report.shown.append(item)
        self._writer.writerow([
            item.kind, item.out_trade_no, item.out_refund_no,
            "" if item.wechat_fen is None else format_yuan(item.wechat_fen),
            "" if item.local_fen is None else format_yuan(item.local_fen), item.resolved, item.detail,
        ])  # fmt: skip
        self._pending.append(ReconciliationItem(
            reconciliation_id=report.run_id, kind=item.kind, out_trade_no=item.out_trade_no,
            out_refund_no=item.out_refund_no, wechat_fen=item.wechat_fen, local_fen=item.local_fen,
            detail=item.detail[:255], resolved=item.resolved,
        ))  # fmt: skip
        if len(self._pending) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            async with self._ctx.sessions.begin() as db:
                db.add_all(self._pending)
            self._pending = []


async def run_reconciliation(
    ctx: ServiceContext, day: date, *, csv_path: str | None = None, console: Console | None = None
) -> Report:
    console = console or Console(quiet=True)
    async with ctx.sessions.begin() as db:
        run = Reconciliation(bill_date=day.isoformat(), status="RUNNING", summary={}, started_at=utc(ctx.clock()))
        db.add(run)
        await db.flush()
        report = Report(run.id, day)
    report.csv_path = csv_path or f"reconciliation-{day.isoformat()}-{report.run_id}.csv"
    # A batch job: its files are local scratch space, so plain blocking file calls are fine here.
    scratch_dir = tempfile.TemporaryDirectory(prefix="silverpay-reconcile-")
    workdir = Path(scratch_dir.name)
    scratch = sqlite3.connect(workdir / "scratch.db")
    scratch.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
    status = "FAILED"
    try:
        with open(report.csv_path, "w", newline="", encoding="utf-8") as csv_file:  # noqa: ASYNC230
            recorder = _Recorder(ctx, report, csv_file)
            bill_path = workdir / "bill.txt"
            has_bill = await ctx.pay.download_bill(day, bill_path)
            totals = _load_bill(ctx, scratch, bill_path, report, console) if has_bill else None
            await _load_local(ctx, scratch, day)
            await _compare(ctx, scratch, totals, recorder)
            await recorder.flush()
        status = "DISCREPANCIES" if report.unresolved else "CLEAN"
    finally:
        scratch.close()
        async with ctx.sessions.begin() as db:
            stored = await db.get(Reconciliation, report.run_id)
            if stored is not None:
                stored.status = status
                stored.bill_rows = report.bill_rows
                stored.discrepancies = report.discrepancies
                stored.unresolved = report.unresolved
                stored.summary = {"by_kind": report.by_kind, "csv": report.csv_path}
                stored.finished_at = utc(ctx.clock())
        scratch_dir.cleanup()
    return report


def read_bill(path: Path) -> Iterator[BillLine]:
    # v2 and v3 trade bills share one text format (backtick-prefixed fields).
    with path.open(encoding="utf-8") as lines:
        yield from bill.parse(lines)


def _load_bill(
    ctx: ServiceContext, scratch: sqlite3.Connection, path: Path, report: Report, console: Console
) -> tuple[BillTotals | None, int, int]:
    payments_batch: list[tuple[str, int]] = []
    refunds_batch: list[tuple[str, str, int]] = []
    totals: BillTotals | None = None
    paid = refunded = 0
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("reading the bill", total=None)
        for line in read_bill(path):
            if type(line) is BillPayment:
                payments_batch.append((line[0], line[2]))
                paid += line[2]
            elif type(line) is BillRefund:
                refunds_batch.append((line[1], line[0], line[2]))
                refunded += line[2]
            elif isinstance(line, BillTotals):
                totals = line
                continue
            report.bill_rows += 1
            if len(payments_batch) >= BATCH or len(refunds_batch) >= BATCH:
                _flush_bill(scratch, payments_batch, refunds_batch)
                progress.update(task, completed=report.bill_rows)
        _flush_bill(scratch, payments_batch, refunds_batch)
        progress.update(task, completed=report.bill_rows)
    return totals, paid, refunded


def _flush_bill(scratch: sqlite3.Connection, pays: list[tuple[str, int]], refs: list[tuple[str, str, int]]) -> None:
    # A repeated number keeps its first row; the totals check below notices the repeat.
    scratch.executemany("INSERT OR IGNORE INTO bill_pay VALUES (?, ?)", pays)
    scratch.executemany("INSERT OR IGNORE INTO bill_refund VALUES (?, ?, ?)", refs)
    pays.clear()
    refs.clear()


async def _load_local(ctx: ServiceContext, scratch: sqlite3.Connection, day: date) -> None:
    start, end = beijing_day(day)
    async with ctx.sessions() as db:
        url = db.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        _attach_local(scratch, str(url.database), start, end)
        return
    paid = select(Order.out_trade_no, Order.amount_fen).where(Order.paid_at >= start, Order.paid_at < end)
    refunded = (
        select(Refund.out_refund_no, Order.out_trade_no, Refund.amount_fen)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.status == RefundStatus.SUCCESS.value, Refund.succeeded_at >= start, Refund.succeeded_at < end)
    )
    async with ctx.sessions() as db:
        for query, insert in ((paid, "INSERT INTO local_pay VALUES (?, ?)"),
                              (refunded, "INSERT INTO local_refund VALUES (?, ?, ?)")):  # fmt: skip
            result = await db.stream(query.execution_options(yield_per=BATCH))
            async for partition in result.partitions(BATCH):
                scratch.executemany(insert, [tuple(row) for row in partition])


def _attach_local(scratch: sqlite3.Connection, path: str, start: datetime, end: datetime) -> None:
    """The default embedded database is itself a SQLite file: copy the day's rows across inside SQLite,
    without streaming a million rows through the async driver."""
    to_text = DateTime().bind_processor(sqlite.dialect())
    bounds = tuple(to_text(UTCDateTime().process_bind_param(t, sqlite.dialect())) if to_text else t
                   for t in (start, end))  # the exact text SQLAlchemy stores  # fmt: skip
    scratch.execute("ATTACH DATABASE ? AS live", (path,))
    try:
        scratch.execute("INSERT INTO local_pay SELECT out_trade_no, amount_fen FROM live.orders "
                        "WHERE paid_at >= ? AND paid_at < ?", bounds)  # fmt: skip
        scratch.execute("INSERT INTO local_refund SELECT r.out_refund_no, o.out_trade_no, r.amount_fen "
                        "FROM live.refunds r JOIN live.orders o ON o.id = r.order_id WHERE r.status = 'SUCCESS' "
                        "AND r.succeeded_at >= ? AND r.succeeded_at < ?", bounds)  # fmt: skip
        scratch.commit()
    finally:
        scratch.execute("DETACH DATABASE live")


def _rows(scratch: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    cursor = scratch.execute(sql)
    while chunk := cursor.fetchmany(BATCH):
        yield from chunk


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _compare(
    ctx: ServiceContext, scratch: sqlite3.Connection, bill: tuple[BillTotals | None, int, int] | None,
    recorder: _Recorder,
) -> None:  # fmt: skip
    if bill is not None:
        totals, paid, refunded = bill
        rows = scratch.execute(BILL_ROW_COUNT).fetchone()
        if totals is None or (totals.rows, totals.paid_fen, totals.refunded_fen) != (rows[0], paid, refunded):
            detail = f"summary says {totals}, lines add up to rows={rows[0]} paid={paid} refunded={refunded}"
            await recorder.add(Discrepancy("TOTALS_MISMATCH", wechat_fen=totals.paid_fen if totals else None,
                                           local_fen=paid, detail=detail))  # fmt: skip

    # Paid at WeChat, not among today's local payments: settled here another day, or not settled at all.
    for chunk in _chunks(_rows(scratch, BILL_ONLY_PAYMENTS), LOOKUP_CHUNK):
        await _payments_not_paid_here(ctx, chunk, recorder)
    for out_trade_no, local in _rows(scratch, LOCAL_ONLY_PAYMENTS):
        await recorder.add(Discrepancy("PAID_HERE_ABSENT_AT_WECHAT", out_trade_no, local_fen=local,
                                       detail="PAID here, not in WeChat's bill"))  # fmt: skip
    for out_trade_no, wechat, local in _rows(scratch, PAYMENT_AMOUNTS_DIFFER):
        await recorder.add(Discrepancy("AMOUNT_MISMATCH", out_trade_no, wechat_fen=wechat, local_fen=local))

    for chunk in _chunks(_rows(scratch, BILL_ONLY_REFUNDS), LOOKUP_CHUNK):
        await _refunds_not_settled_here(ctx, chunk, recorder)
    for out_refund_no, out_trade_no, local in _rows(scratch, LOCAL_ONLY_REFUNDS):
        await recorder.add(Discrepancy("REFUND_ABSENT_AT_WECHAT", out_trade_no, out_refund_no, local_fen=local))
    for out_refund_no, out_trade_no, wechat, local in _rows(scratch, REFUND_AMOUNTS_DIFFER):
        await recorder.add(Discrepancy("REFUND_AMOUNT_MISMATCH", out_trade_no, out_refund_no, wechat, local))


async def _payments_not_paid_here(ctx: ServiceContext, chunk: Sequence[tuple[Any, ...]], recorder: _Recorder) -> None:
    async with ctx.sessions() as db:
        found = {o.out_trade_no: o for o in (await db.execute(
            select(Order).where(Order.out_trade_no.in_([no for no, _ in chunk])))).scalars()}  # fmt: skip
    for out_trade_no, wechat in chunk:
        order = found.get(out_trade_no)
        if order is None:
            await recorder.add(Discrepancy("UNKNOWN_ORDER", out_trade_no, wechat_fen=wechat,
                                           detail="paid at WeChat, no such order here"))  # fmt: skip
        elif OrderStatus(order.status) in PAID_FAMILY:
            if order.amount_fen != wechat:  # settled here on another day: only the amount can differ
                await recorder.add(Discrepancy("AMOUNT_MISMATCH", out_trade_no, wechat_fen=wechat,
                                               local_fen=order.amount_fen))  # fmt: skip
        else:
            await recorder.add(await _settle_payment(ctx, order, wechat))


async def _settle_payment(ctx: ServiceContext, order: Order, wechat: int) -> Discrepancy:
    item = Discrepancy("PAID_AT_WECHAT_NOT_HERE", order.out_trade_no, wechat_fen=wechat, local_fen=order.amount_fen)
    try:
        row = await ctx.ledger.get(order.id)
        if row is None:
            raise NotFound("no such order", code="ORDER_NOT_FOUND")
        settled = await payments.sync_from_wechat(ctx, row, source="reconcile")
    except (UpstreamError, NotFound) as error:
        item.detail = f"{order.status}; query failed: {error.code}"
        return item
    item.resolved = OrderStatus(settled.status) in PAID_FAMILY
    item.detail = f"was {order.status}, now {settled.status}" + (
        "" if item.resolved else f"; flagged: {settled.review_reason}"
    )
    return item


async def _refunds_not_settled_here(ctx: ServiceContext, chunk: Sequence[tuple[Any, ...]], recorder: _Recorder) -> None:
    async with ctx.sessions() as db:
        found = {r.out_refund_no: r for r in (await db.execute(
            select(Refund).where(Refund.out_refund_no.in_([no for no, _, _ in chunk])))).scalars()}  # fmt: skip
    for out_refund_no, out_trade_no, wechat in chunk:
        refund = found.get(out_refund_no)
        if refund is None:
            await recorder.add(Discrepancy("REFUND_UNKNOWN", out_trade_no, out_refund_no, wechat_fen=wechat,
                                           detail="refunded at WeChat, no such refund here"))  # fmt: skip
        elif refund.status == RefundStatus.SUCCESS:
            if refund.amount_fen != wechat:
                await recorder.add(Discrepancy("REFUND_AMOUNT_MISMATCH", out_trade_no, out_refund_no, wechat,
                                               refund.amount_fen))  # fmt: skip
        else:
            item = Discrepancy("REFUND_NOT_SETTLED_HERE", out_trade_no, out_refund_no, wechat, refund.amount_fen)
            try:
                settled = await refunds.sync(ctx, refund)
                item.resolved = settled.status == RefundStatus.SUCCESS
                item.detail = f"was {refund.status}, now {settled.status}"
            except UpstreamError as error:
                item.detail = f"{refund.status}; query failed: {error.code}"
            await recorder.add(item)


def print_report(console: Console, report: Report) -> None:
    table = Table(title=f"Reconciliation {report.run_id} of {report.bill_date} ({report.bill_rows:,} bill rows)")
    for column in ("kind", "out_trade_no", "out_refund_no", "WeChat ¥", "here ¥", "resolved", "detail"):
        table.add_column(column)
    for d in report.shown:
        table.add_row(d.kind, d.out_trade_no, d.out_refund_no,
                      "" if d.wechat_fen is None else format_yuan(d.wechat_fen),
                      "" if d.local_fen is None else format_yuan(d.local_fen),
                      "yes" if d.resolved else "[red]no[/]", d.detail)  # fmt: skip
    console.print(table)
    if report.discrepancies > len(report.shown):
        console.print(f"… and {report.discrepancies - len(report.shown)} more in {report.csv_path}")
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(report.by_kind.items())) or "none"
    colour = "red" if report.unresolved else "green"
    console.print(f"[{colour}]discrepancies: {report.discrepancies} ({kinds}); unresolved: {report.unresolved}[/]")
    console.print(f"CSV: {report.csv_path}")


async def list_runs(ctx: ServiceContext, *, limit: int) -> list[dict[str, Any]]:
    async with ctx.sessions() as db:
        runs = (await db.execute(select(Reconciliation).order_by(desc(Reconciliation.id)).limit(limit))).scalars()
        return [_run_view(r) for r in runs]


async def get_run(ctx: ServiceContext, run_id: int) -> dict[str, Any]:
    async with ctx.sessions() as db:
        run = await db.get(Reconciliation, run_id)
        if run is None:
            raise NotFound("no such reconciliation", code="RECONCILIATION_NOT_FOUND")
        items = (await db.execute(select(ReconciliationItem).where(ReconciliationItem.reconciliation_id == run_id)
                                  .order_by(ReconciliationItem.id))).scalars()  # fmt: skip
        return {**_run_view(run), "items": [
            {"kind": i.kind, "out_trade_no": i.out_trade_no, "out_refund_no": i.out_refund_no,
             "wechat_fen": i.wechat_fen, "local_fen": i.local_fen, "detail": i.detail, "resolved": i.resolved}
            for i in items]}  # fmt: skip


def _run_view(run: Reconciliation) -> dict[str, Any]:
    finished = run.finished_at.isoformat() if run.finished_at else None
    return {
        "id": run.id, "bill_date": run.bill_date, "status": run.status, "bill_rows": run.bill_rows,
        "discrepancies": run.discrepancies, "unresolved": run.unresolved, "summary": run.summary,
        "started_at": run.started_at.isoformat(), "finished_at": finished,
    }  # fmt: skip
