"""What monitoring reads from the database: the gauges of ``/metrics`` and the readiness of ``/readyz``."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from silverpay.clock import utc
from silverpay.metrics import Snapshot
from silverpay.service import heartbeats
from silverpay.service.context import ServiceContext
from silverpay.store.migrate import alembic_config
from silverpay.store.models import Order, Reconciliation, ReconciliationItem, Refund


async def snapshot(ctx: ServiceContext) -> Snapshot:
    """Counts over indexed columns (status, next_check_at), one short read-only session."""
    now = utc(ctx.clock())
    async with ctx.sessions() as db:
        counts = await db.execute(select(Order.status, func.count()).group_by(Order.status))
        by_status = {str(status): int(n) for status, n in counts}
        due = (Order.status == "PAYING", Order.next_check_at <= now, Order.expires_at > now)
        backlog, oldest_due = (await db.execute(select(func.count(), func.min(Order.next_check_at)).where(*due))).one()
        processing, oldest_refund = (
            await db.execute(select(func.count(), func.min(Refund.created_at)).where(Refund.status == "PROCESSING"))
        ).one()
        review = await db.scalar(select(func.count()).where(Order.needs_review.is_(True)))
        latest = select(func.max(Reconciliation.id)).group_by(Reconciliation.bill_date)
        open_items = await db.scalar(
            select(func.count()).where(ReconciliationItem.resolved.is_(False),
                                       ReconciliationItem.reconciliation_id.in_(latest))
        )  # fmt: skip
        workers = await heartbeats.read(db, ctx.clock())
    return Snapshot(
        orders_by_status=by_status,
        sweep_backlog=int(backlog),
        sweep_oldest_due_s=_age(now, oldest_due),
        refunds_processing=int(processing),
        refunds_processing_oldest_s=_age(now, oldest_refund),
        needs_review=int(review or 0),
        discrepancies_open=int(open_items or 0),
        workers_live=len(workers.live),
        worker_heartbeat_age_s=workers.age_s,
    )


def _age(now: Any, then: Any) -> float:
    return max(0.0, (now - utc_aware(then)).total_seconds()) if then is not None else 0.0


def utc_aware(value: Any) -> Any:
    """Aggregates (MIN) bypass the column type on some backends: a naive UTC datetime comes back."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, str):  # SQLite answers MIN over a DATETIME column as text
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


@functools.cache
def migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def readiness(ctx: ServiceContext) -> dict[str, Any]:
    """``{"ready", "database", "migrations", ...}``: the database answers, and its schema is at head."""
    checks: dict[str, Any] = {"database": "ok", "migrations": "ok"}
    try:
        async with ctx.sessions() as db:
            await db.execute(text("SELECT 1"))
            connection = await db.connection()
            current = await connection.run_sync(lambda sync: set(MigrationContext.configure(sync).get_current_heads()))
    except Exception as error:  # any failure to reach the database is "not ready", never a 500
        checks |= {"database": f"unreachable: {type(error).__name__}", "migrations": "unknown"}
        return {"ready": False, **checks}
    expected = migration_heads()
    if current != expected:
        checks["migrations"] = f"at {sorted(current) or 'none'}, head is {sorted(expected)}"
    return {"ready": checks["migrations"] == "ok", **checks}
