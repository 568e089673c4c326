"""``Idempotency-Key`` for the server-to-server API: any POST, any use case.

The key is recorded (in progress) before the use case runs and its answer stored after, so a retry
replays that answer, the key with another request is a 409 (IDEMPOTENCY_KEY_REUSED) and a twin
arriving meanwhile is a 409 (IDEMPOTENCY_KEY_IN_USE), as on the mini-program's orders. If the use
case raises, the record is dropped: every use case here is safe to run again (WeChat calls are
keyed by the order's and refund's own numbers), so the retry simply runs it. Records are kept
:data:`KEEP_S` (48 h); one left in progress by a crashed process is taken over after
:data:`IN_PROGRESS_S`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError

from silverpay.clock import utc
from silverpay.errors import Conflict
from silverpay.service.context import ServiceContext
from silverpay.store.models_integration import ApiIdempotencyRecord

KEEP_S = 48 * 3600
IN_PROGRESS_S = 120


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any
    replayed: bool = False


def request_hash(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([method, path, body], sort_keys=True).encode()).hexdigest()


async def _claim(ctx: ServiceContext, key: str, digest: str) -> Answer | None:
    """Record the key as in progress; an earlier answer to replay instead, or a 409."""
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as db:
            db.add(ApiIdempotencyRecord(key=key, request_hash=digest, status_code=0, response="", created_at=utc(now)))
        return None
    except IntegrityError:
        pass
    async with ctx.sessions.begin() as db:
        record = (await db.execute(select(ApiIdempotencyRecord).where(ApiIdempotencyRecord.key == key))).scalar_one()
        if record.request_hash != digest:
            raise Conflict("Idempotency-Key was already used with a different request", code="IDEMPOTENCY_KEY_REUSED")
        if record.status_code:
            return Answer(record.status_code, json.loads(record.response), replayed=True)
        stale = record.created_at < utc(now) - timedelta(seconds=IN_PROGRESS_S)
        take = (
            update(ApiIdempotencyRecord)
            .where(ApiIdempotencyRecord.id == record.id, ApiIdempotencyRecord.created_at == record.created_at)
            .values(created_at=utc(now))
        )
        taken = stale and cast("CursorResult[Any]", await db.execute(take)).rowcount == 1
        if not taken:
            raise Conflict("concurrent request with the same Idempotency-Key", code="IDEMPOTENCY_KEY_IN_USE")
    return None


async def idempotent(ctx: ServiceContext, key: str | None, digest: str, run: Callable[[], Awaitable[Answer]]) -> Answer:
    if not key:
        return await run()
    earlier = await _claim(ctx, key, digest)
    if earlier is not None:
        return earlier
    try:
        answer = await run()
    except BaseException:
        async with ctx.sessions.begin() as db:
            await db.execute(delete(ApiIdempotencyRecord).where(ApiIdempotencyRecord.key == key))
        raise
    async with ctx.sessions.begin() as db:
        await db.execute(
            update(ApiIdempotencyRecord)
            .where(ApiIdempotencyRecord.key == key)
            .values(status_code=answer.status_code, response=json.dumps(answer.body))
        )
    return answer


async def prune(ctx: ServiceContext) -> int:
    """Forget keys older than :data:`KEEP_S`."""
    cutoff = utc(ctx.clock() - KEEP_S)
    async with ctx.sessions.begin() as db:
        result = await db.execute(delete(ApiIdempotencyRecord).where(ApiIdempotencyRecord.created_at < cutoff))
    return int(cast("CursorResult[Any]", result).rowcount or 0)
