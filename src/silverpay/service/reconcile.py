"""Daily bill reconciliation (SPEC §2.9): WeChat's bill against local orders and refunds.

Memory stays bounded whatever the bill's size: the gzip bill is read by DuckDB straight from disk,
the day's local records are streamed into the same scratch DuckDB database in batches (both at
once, on two threads), and the comparisons are SQL joins there (``reconcile_sql``). Only the few
rows that do not match are looked up in the service's own database (and, where WeChat has a
payment or refund that is not settled here, settled from WeChat's record).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy import desc, select

from silverpay.beijing import BEIJING
from silverpay.clock import utc
from silverpay.domain.money import format_yuan
from silverpay.domain.orders import PAID_FAMILY, OrderStatus
from silverpay.domain.refunds import RefundStatus
from silverpay.errors import InvalidRequest, NotFound, UpstreamError
from silverpay.service import payments, refunds
from silverpay.service.context import ServiceContext
from silverpay.service.reconcile_local import BATCH as LOCAL_BATCH
from silverpay.service.reconcile_local import load_local
from silverpay.service.reconcile_sql import (
    BILL_ONLY_PAYMENTS,
    BILL_ONLY_REFUNDS,
    LOCAL_ONLY_PAYMENTS,
    LOCAL_ONLY_REFUNDS,
    MEMORY_LIMIT,
    PAYMENT_AMOUNTS_DIFFER,
    REFUND_AMOUNTS_DIFFER,
    BillSums,
    Scratch,
)
from silverpay.store.models import Order, Reconciliation, ReconciliationItem, Refund
from silverpay.wechat.gateway import BillLine
from silverpay.wechat.v2 import bill as bill_format

log = logging.getLogger(__name__)
BATCH = 5000
LOOKUP_CHUNK = 500
SHOWN = 50  # discrepancies printed in the table; all of them go to the CSV and the database
# WeChat makes a day's bill the next (Beijing) day and keeps bills three months (SPEC §2.9): 92 days,
# the longest three months, so a day WeChat may still have is never refused (the simulator's rule too).
BILL_HISTORY_DAYS = 92


def check_bill_day(day: date, now: float) -> None:
    """InvalidRequest unless WeChat can have a bill for ``day``: a past Beijing day, at most
    BILL_HISTORY_DAYS ago. (Yesterday's bill is made from 09:00 Beijing time; before then WeChat
    answers that it is being made.)"""
    today = datetime.fromtimestamp(now, BEIJING).date()
    if day >= today:
        raise InvalidRequest(f"WeChat has bills for past days only: {day} is not before today in Beijing ({today})",
                             code="BILL_DATE_INVALID")  # fmt: skip
    earliest = today - timedelta(days=BILL_HISTORY_DAYS)
    if day < earliest:
        raise InvalidRequest(f"WeChat keeps bills for three months: {day} is before {earliest}",
                             code="BILL_DATE_INVALID")  # fmt: skip


_T = TypeVar("_T")


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
    ctx: ServiceContext,
    day: date,
    *,
    csv_path: str | None = None,
    console: Console | None = None,
    memory_limit: str = MEMORY_LIMIT,
    batch: int = LOCAL_BATCH,
) -> Report:
    """Reconcile the Beijing ``day`` (InvalidRequest, before anything is asked or written, for a day
    WeChat has no bill of); the discrepancies also go to ``csv_path`` if given, once the run has
    succeeded. ``memory_limit`` bounds DuckDB, ``batch`` is how many local rows travel into it at a time."""
    check_bill_day(day, ctx.clock())
    console = console or Console(quiet=True)
    async with ctx.sessions.begin() as db:
        run = Reconciliation(bill_date=day.isoformat(), status="RUNNING", summary={}, started_at=utc(ctx.clock()))
        db.add(run)
        await db.flush()
        report = Report(run.id, day)
    # A batch job: its files are local scratch space, so plain blocking file calls are fine here.
    scratch_dir = tempfile.TemporaryDirectory(prefix="silverpay-reconcile-")
    workdir = Path(scratch_dir.name)
    scratch_csv = workdir / "discrepancies.csv"  # moved to csv_path when the run succeeds
    phases = _Phases()
    with phases("open"):
        scratch = Scratch(workdir, memory_limit=memory_limit)
    status = "FAILED"
    try:
        with open(scratch_csv, "w", newline="", encoding="utf-8") as csv_file:  # noqa: ASYNC230
            recorder = _Recorder(ctx, report, csv_file)
            with console.status("reading WeChat's bill and the day's local records"), phases("load"):
                bill = await _both(_download_and_read(ctx, scratch, day, workdir / "bill.txt.gz", phases),
                                   phases.timed("local", load_local(ctx, scratch, day, batch=batch)))  # fmt: skip
            with console.status("comparing"), phases("join"):
                scratch.compare()
            with console.status("recording the discrepancies"), phases("record"):
                await _compare(ctx, scratch, bill, report, recorder)
                await recorder.flush()
        if csv_path:
            shutil.move(scratch_csv, csv_path)
            report.csv_path = csv_path
        status = "DISCREPANCIES" if report.unresolved else "CLEAN"
    finally:
        scratch.close()
        log.info("reconciliation %d of %s took %s", report.run_id, day, phases)
        async with ctx.sessions.begin() as db:
            stored = await db.get(Reconciliation, report.run_id)
            if stored is not None:
                stored.status = status
                stored.bill_rows = report.bill_rows
                stored.discrepancies = report.discrepancies
                stored.unresolved = report.unresolved
                stored.summary = {"by_kind": report.by_kind, "csv": report.csv_path or None}
                stored.finished_at = utc(ctx.clock())
        scratch_dir.cleanup()
    return report


def read_bill(path: Path) -> Iterator[BillLine]:
    """The lines of a downloaded (gzipped) bill, parsed in Python: for tests and tools; the run reads
    it in DuckDB. v2 and v3 trade bills share one text format (backtick-prefixed fields)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        yield from bill_format.parse(lines)


class _Phases:
    """How long each step of a run took, for the log (bench/reconcile.py prints it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started

    async def timed(self, name: str, step: Awaitable[_T]) -> _T:
        with self(name):
            return await step

    def __str__(self) -> str:
        return " ".join(f"{name}={seconds:.2f}s" for name, seconds in self.seconds.items())


async def _both(reading: Awaitable[BillSums | None], loading: Awaitable[None]) -> BillSums | None:
    """The bill downloaded and read (on a thread) while the local rows load. Both finish before an error of
    either is raised: both write into the scratch database, which is closed next."""
    bill, loaded = await asyncio.gather(reading, loading, return_exceptions=True)
    if isinstance(bill, BaseException):
        raise bill
    if isinstance(loaded, BaseException):
        raise loaded
    return bill


async def _download_and_read(
    ctx: ServiceContext, scratch: Scratch, day: date, path: Path, phases: _Phases
) -> BillSums | None:
    with phases("download"):
        if not await ctx.pay.download_bill(day, path):
            return None
    return await phases.timed("bill", asyncio.to_thread(scratch.load_bill, path))


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
    ctx: ServiceContext, scratch: Scratch, bill: BillSums | None, report: Report, recorder: _Recorder
) -> None:
    if bill is not None:
        report.bill_rows = bill.lines
        rows, totals = scratch.bill_rows(), bill.totals
        if (totals.rows, totals.paid_fen, totals.refunded_fen) != (rows, bill.paid_fen, bill.refunded_fen):
            detail = (f"summary says {totals}, lines add up to rows={rows} paid={bill.paid_fen} "
                      f"refunded={bill.refunded_fen}")  # fmt: skip
            await recorder.add(Discrepancy("TOTALS_MISMATCH", wechat_fen=totals.paid_fen, local_fen=bill.paid_fen,
                                           detail=detail))  # fmt: skip

    # Paid at WeChat, not among today's local payments: settled here another day, or not settled at all.
    for chunk in _chunks(scratch.rows(BILL_ONLY_PAYMENTS), LOOKUP_CHUNK):
        await _payments_not_paid_here(ctx, chunk, recorder)
    for out_trade_no, local in scratch.rows(LOCAL_ONLY_PAYMENTS):
        await recorder.add(Discrepancy("PAID_HERE_ABSENT_AT_WECHAT", out_trade_no, local_fen=local,
                                       detail="PAID here, not in WeChat's bill"))  # fmt: skip
    for out_trade_no, wechat, local in scratch.rows(PAYMENT_AMOUNTS_DIFFER):
        await recorder.add(Discrepancy("AMOUNT_MISMATCH", out_trade_no, wechat_fen=wechat, local_fen=local))

    for chunk in _chunks(scratch.rows(BILL_ONLY_REFUNDS), LOOKUP_CHUNK):
        await _refunds_not_settled_here(ctx, chunk, recorder)
    for out_refund_no, out_trade_no, local in scratch.rows(LOCAL_ONLY_REFUNDS):
        await recorder.add(Discrepancy("REFUND_ABSENT_AT_WECHAT", out_trade_no, out_refund_no, local_fen=local))
    for out_refund_no, out_trade_no, wechat, local in scratch.rows(REFUND_AMOUNTS_DIFFER):
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
        where = report.csv_path or f"GET /api/v1/admin/reconciliations/{report.run_id} (or run again with --csv FILE)"
        console.print(f"… and {report.discrepancies - len(report.shown)} more in {where}")
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(report.by_kind.items())) or "none"
    colour = "red" if report.unresolved else "green"
    console.print(f"[{colour}]discrepancies: {report.discrepancies} ({kinds}); unresolved: {report.unresolved}[/]")
    if report.csv_path:
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
