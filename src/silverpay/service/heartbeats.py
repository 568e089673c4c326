"""Worker heartbeats: each worker process writes its row at most every :data:`BEAT_EVERY_S` (one
UPDATE; an INSERT only when the row is missing), deletes it on a clean stop; health and ``/metrics``
read them. A worker unseen for :data:`LIVE_WITHIN_S` is stale; rows unseen for a day are pruned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.errors import SilverpayError
from silverpay.service.context import ServiceContext
from silverpay.store.models_heartbeat import WorkerHeartbeat

BEAT_EVERY_S = 10.0
LIVE_WITHIN_S = 3 * BEAT_EVERY_S  # three beats missed: the worker is stale
KEEP_S = 86400.0  # rows unseen this long are pruned
MAX_LISTED = 100


@dataclass(frozen=True)
class Identity:
    """A worker process: ``id`` is ``host:pid:random``, so a restarted process is a new row."""

    id: str
    host: str
    pid: int
    started_at: float


def error_code(error: BaseException) -> str:
    """What a failed pass records: our error's code, or the exception's class name (never its message)."""
    return (error.code if isinstance(error, SilverpayError) else type(error).__name__)[:64]


async def beat(ctx: ServiceContext, me: Identity, *, passes: int, last_error_code: str | None) -> None:
    """Record that ``me`` is alive now, with its pass count and the latest pass's error code (if it failed)."""
    now = utc(ctx.clock())
    seen = update(WorkerHeartbeat).where(WorkerHeartbeat.id == me.id)
    async with ctx.sessions.begin() as db:
        result = await db.execute(seen.values(seen_at=now, passes=passes, last_error_code=last_error_code))
        if cast("CursorResult[Any]", result).rowcount == 0:  # the first beat (or the row was pruned meanwhile)
            db.add(WorkerHeartbeat(id=me.id, host=me.host, pid=me.pid, started_at=utc(me.started_at), seen_at=now,
                                   passes=passes, last_error_code=last_error_code))  # fmt: skip


async def forget(ctx: ServiceContext, me: Identity) -> None:
    """A clean stop: the worker's row goes, so health does not report it stale."""
    async with ctx.sessions.begin() as db:
        await db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id == me.id))


async def prune(ctx: ServiceContext) -> int:
    """Forget workers unseen for :data:`KEEP_S` (they stopped without saying so)."""
    cutoff = utc(ctx.clock() - KEEP_S)
    async with ctx.sessions.begin() as db:
        result = await db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < cutoff))
    return int(cast("CursorResult[Any]", result).rowcount or 0)


@dataclass(frozen=True)
class Workers:
    """The heartbeats as health sees them at ``now``."""

    now: float
    live: list[WorkerHeartbeat]  # seen within LIVE_WITHIN_S, newest first
    stale: int  # rows older than that (not yet pruned)
    newest: datetime | None  # the latest heartbeat of any worker

    @property
    def state(self) -> str:
        """``ok`` (a live worker), ``stale`` (heartbeats, none recent) or ``none`` (no worker ever beat)."""
        return "ok" if self.live else "stale" if self.newest is not None else "none"

    @property
    def age_s(self) -> float | None:
        """Seconds since the latest heartbeat."""
        return max(0.0, self.now - self.newest.timestamp()) if self.newest is not None else None


async def read(db: AsyncSession, now: float) -> Workers:
    live_since = utc(now - LIVE_WITHIN_S)
    seen_at = WorkerHeartbeat.seen_at
    newest_first = select(WorkerHeartbeat).order_by(seen_at.desc(), WorkerHeartbeat.id)
    live = list((await db.execute(newest_first.where(seen_at >= live_since).limit(MAX_LISTED))).scalars())
    newest = live[0].seen_at if live else await db.scalar(newest_first.with_only_columns(seen_at).limit(1))
    stale = await db.scalar(select(func.count()).where(seen_at < live_since))
    return Workers(now=now, live=live, stale=int(stale or 0), newest=newest)


def report(workers: Workers) -> dict[str, Any]:
    """Health's ``worker`` entry."""
    age = workers.age_s
    return {
        "state": workers.state,
        "heartbeat_at": workers.newest.isoformat() if workers.newest is not None else None,
        "age_s": round(age, 1) if age is not None else None,
        "live_within_s": LIVE_WITHIN_S,
        "workers": [{"id": w.id, "host": w.host, "pid": w.pid, "started_at": w.started_at.isoformat(),
                     "seen_at": w.seen_at.isoformat(), "age_s": round(max(0.0, workers.now - w.seen_at.timestamp()), 1),
                     "passes": w.passes, "last_error_code": w.last_error_code} for w in workers.live],
        "stale_workers": workers.stale,
    }  # fmt: skip
