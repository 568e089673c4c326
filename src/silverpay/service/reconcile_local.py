"""The day's local payments and refunds, streamed in batches into a reconciliation's scratch database.

One query per range of ids, on any backend: the database joins the batch's rows into one text
(``string_agg`` on PostgreSQL, ``group_concat`` on SQLite and MariaDB), so that a million rows cross
the async driver as a few dozen values rather than a million Python rows.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal, select, text

from silverpay.beijing import BEIJING
from silverpay.domain.refunds import RefundStatus
from silverpay.service.context import ServiceContext
from silverpay.service.reconcile_sql import FIELD, RECORD, Scratch
from silverpay.store.models import Order, Refund

BATCH = 50_000
GROUP_CONCAT_MAX = 1 << 30  # MariaDB cuts GROUP_CONCAT at 1 KiB by default (the row count check would notice)


def beijing_day(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start, start + timedelta(days=1)


def _joined(*values: Any) -> ColumnElement[str]:
    """The values of a row as FIELD-separated text; the rows of a batch as RECORD-separated text."""
    row: ColumnElement[Any] = cast(values[0], String)
    for value in values[1:]:
        row = row + literal(FIELD) + cast(value, String)
    return func.aggregate_strings(row, RECORD)


async def load_local(ctx: ServiceContext, scratch: Scratch, day: date, *, batch: int = BATCH) -> None:
    """Payments made and refunds settled during the Beijing ``day``, into ``scratch``, ``batch`` ids at a time."""
    start, end = beijing_day(day)
    paid = select(func.count(), _joined(Order.out_trade_no, Order.amount_fen)).where(
        Order.paid_at >= start, Order.paid_at < end
    )
    refunded = select(func.count(), _joined(Refund.out_refund_no, Refund.out_trade_no, Refund.amount_fen)).where(
        Refund.status == RefundStatus.SUCCESS.value, Refund.succeeded_at >= start, Refund.succeeded_at < end
    )
    # A payment an order could not take was refunded whole (a surplus refund): WeChat's bill lists it
    # as a payment, at about the time its refund was queued.
    surplus = select(func.count(), _joined(Refund.out_trade_no, Refund.amount_fen)).where(
        Refund.surplus.is_(True), Refund.created_at >= start, Refund.created_at < end
    )
    steps = (
        (Order.id, paid, scratch.add_payments),
        (Refund.id, surplus, scratch.add_payments),
        (Refund.id, refunded, scratch.add_refunds),
    )
    # While DuckDB parses one batch (on a thread), the database is already producing the next.
    parsing: asyncio.Task[None] | None = None
    try:
        async with ctx.sessions() as db:
            if db.get_bind().dialect.name == "mysql":
                await db.execute(text(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}"))
            for ids, query, add in steps:
                low, high = (await db.execute(select(func.min(ids), func.max(ids)))).one()
                if low is None:
                    continue
                for first in range(low - 1, high, batch):
                    count, rows = (await db.execute(query.where(ids > first, ids <= first + batch))).one()
                    if parsing is not None:
                        await parsing
                    parsing = asyncio.create_task(asyncio.to_thread(add, rows, count)) if count else None
        if parsing is not None:
            await parsing
    finally:
        if parsing is not None and not parsing.done():
            await asyncio.wait([parsing])  # it writes into the scratch database, which is closed next
