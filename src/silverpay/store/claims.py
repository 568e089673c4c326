"""Claiming due rows for one worker at a time (refunds; orders are claimed through the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import utc
from silverpay.store.ledger import LEASE_S


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    model: Any,
    conditions: Sequence[ColumnElement[bool]],
    *,
    now: float,
    limit: int,
    order_by: Any,
) -> list[int]:
    """Ids of up to ``limit`` due rows, leased to the caller until ``now + LEASE_S``."""
    async with sessions.begin() as db:
        query = (
            select(model.id)
            .where(*conditions, or_(model.lease_until.is_(None), model.lease_until < utc(now)))
            .order_by(order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite ignores it: there BEGIN IMMEDIATE serialises claims
        )
        ids = list((await db.execute(query)).scalars().all())
        if ids:
            await db.execute(
                update(model)
                .where(model.id.in_(ids))
                .values(lease_until=utc(now) + timedelta(seconds=LEASE_S))
                .execution_options(synchronize_session=False)
            )
    return ids


async def release(
    sessions: async_sessionmaker[AsyncSession], model: Any, row_id: int, *, now: float, delay_s: float | None,
    attempts_increment: int = 1, hold_s: float | None = None,
) -> None:  # fmt: skip
    """Give a row back, due again after ``delay_s`` (None: nothing more to do). ``hold_s`` keeps the
    lease that long instead, for jobs whose claim does not look at ``next_check_at``."""
    async with sessions.begin() as db:
        await db.execute(
            update(model)
            .where(model.id == row_id)
            .values(
                lease_until=None if hold_s is None else utc(now) + timedelta(seconds=hold_s),
                next_check_at=None if delay_s is None else utc(now + delay_s),
                check_attempts=model.check_attempts + attempts_increment,
            )
            .execution_options(synchronize_session=False)
        )
