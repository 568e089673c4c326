"""The day's local payments and refunds, streamed in batches into a reconciliation's scratch database.

Any backend goes through SQLAlchemy's streaming results (a server-side cursor on PostgreSQL and
MariaDB). The default embedded database is itself a SQLite file: it is read with the sqlite3 module
directly, a range of ids at a time, SQLite joining each batch into one text so that a million rows
do not become a million Python tuples.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, select
from sqlalchemy.dialects import sqlite

from silverpay.domain.refunds import RefundStatus
from silverpay.service.context import ServiceContext
from silverpay.service.reconcile_sql import FIELD, RECORD, Scratch
from silverpay.store.models import Order, Refund, UTCDateTime
from silverpay.wechat.v2.times import BEIJING

BATCH = 50_000

# One batch of ids: how many rows matched, and those rows as one text (the separators are bound first).
SQLITE_PAYMENTS = ("SELECT count(*), group_concat(out_trade_no || :field || amount_fen, :record) FROM orders "
                   "WHERE id > :first AND id <= :last AND paid_at >= :start AND paid_at < :end")  # fmt: skip
SQLITE_REFUNDS = ("SELECT count(*), group_concat(r.out_refund_no || :field || o.out_trade_no || :field || "
                  "r.amount_fen, :record) FROM refunds r JOIN orders o ON o.id = r.order_id "
                  "WHERE r.id > :first AND r.id <= :last AND r.status = :status "
                  "AND r.succeeded_at >= :start AND r.succeeded_at < :end")  # fmt: skip


def beijing_day(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start, start + timedelta(days=1)


async def load_local(ctx: ServiceContext, scratch: Scratch, day: date, *, batch: int = BATCH) -> None:
    """Payments made and refunds settled during the Beijing ``day``, into ``scratch``, ``batch`` at a time."""
    async with ctx.sessions() as db:
        url = db.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        await asyncio.to_thread(_load_sqlite, scratch, str(url.database), day, batch)
    else:
        await _load_streamed(ctx, scratch, day, batch)


async def _load_streamed(ctx: ServiceContext, scratch: Scratch, day: date, batch: int) -> None:
    start, end = beijing_day(day)
    paid = select(Order.out_trade_no, Order.amount_fen).where(Order.paid_at >= start, Order.paid_at < end)
    refunded = (
        select(Refund.out_refund_no, Order.out_trade_no, Refund.amount_fen)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.status == RefundStatus.SUCCESS.value, Refund.succeeded_at >= start, Refund.succeeded_at < end)
    )
    async with ctx.sessions() as db:
        result = await db.stream(paid.execution_options(yield_per=batch))
        async for payments in result.partitions(batch):
            scratch.add_payments(_text(payments), len(payments))
        result = await db.stream(refunded.execution_options(yield_per=batch))
        async for refunds in result.partitions(batch):
            scratch.add_refunds(_text(refunds), len(refunds))


def _text(rows: Sequence[Sequence[Any]]) -> str:
    return RECORD.join([FIELD.join(map(str, row)) for row in rows])


def _load_sqlite(scratch: Scratch, path: str, day: date, batch: int) -> None:
    to_text = DateTime().bind_processor(sqlite.dialect())
    start, end = (to_text(UTCDateTime().process_bind_param(t, sqlite.dialect())) if to_text else t
                  for t in beijing_day(day))  # the exact text SQLAlchemy stores  # fmt: skip
    params = {"field": FIELD, "record": RECORD, "start": start, "end": end, "status": RefundStatus.SUCCESS.value}
    live = sqlite3.connect(path)
    try:
        live.execute("PRAGMA query_only = ON")
        for table, sql, add in (("orders", SQLITE_PAYMENTS, scratch.add_payments),
                                ("refunds", SQLITE_REFUNDS, scratch.add_refunds)):  # fmt: skip
            low, high = live.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()  # noqa: S608
            if low is None:
                continue
            for first in range(low - 1, high, batch):
                count, text = live.execute(sql, {**params, "first": first, "last": first + batch}).fetchone()
                add(text or "", count)
    finally:
        live.close()
