"""``Idempotency-Key`` for the server-to-server API: any POST, any use case.

The key is recorded (in progress) before the use case runs and its answer stored after, so a retry
replays that answer, the key with another request is a 409 (IDEMPOTENCY_KEY_REUSED) and a twin
arriving meanwhile is a 409 (IDEMPOTENCY_KEY_IN_USE), as on the mini-program's orders. If the use
case raises, the record is dropped: every use case here is safe to run again (WeChat calls are
keyed by the order's and refund's own numbers), so the retry simply runs it. Records are kept
:data:`KEEP_S` (48 h); one left in progress by a crashed process is taken over after
:data:`IN_PROGRESS_S`. A claim's ``created_at`` is its token: the answer (or the record's removal
after an error) is written only while the record is still that claim's, so a run that outlived a
takeover cannot replace the answer the taker stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError

from silverpay.clock import utc
from silverpay.errors import Conflict
from silverpay.service.context import ServiceContext
from silverpay.store.models_integration import ApiIdempotencyRecord

KEEP_S = 48 * 3600
IN_PROGRESS_S = 120

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any
    replayed: bool = False


def request_hash(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([method, path, body], sort_keys=True).encode()).hexdigest()


async def _claim(ctx: ServiceContext, key: str, digest: str) -> Answer | datetime:
    """Record the key as in progress and return the claim's token (its ``created_at``); or an
    earlier answer to replay instead; or a 409."""
    now = utc(ctx.clock())
    try:
        async with ctx.sessions.begin() as db:
            db.add(ApiIdempotencyRecord(key=key, request_hash=digest, status_code=0, response="", created_at=now))
        return now
    except IntegrityError:
        pass
    async with ctx.sessions.begin() as db:
        record = (await db.execute(select(ApiIdempotencyRecord).where(ApiIdempotencyRecord.key == key))).scalar_one()
        if record.request_hash != digest:
            raise Conflict("Idempotency-Key was already used with a different request", code="IDEMPOTENCY_KEY_REUSED")
        if record.status_code:
            return Answer(record.status_code, json.loads(record.response), replayed=True)
        stale = record.created_at < now - timedelta(seconds=IN_PROGRESS_S)
        take = (
            update(ApiIdempotencyRecord)
            .where(ApiIdempotencyRecord.id == record.id, ApiIdempotencyRecord.created_at == record.created_at)
            .values(created_at=now)
        )
        taken = stale and cast("CursorResult[Any]", await db.execute(take)).rowcount == 1
        if not taken:
            raise Conflict("concurrent request with the same Idempotency-Key", code="IDEMPOTENCY_KEY_IN_USE")
    return now


async def idempotent(ctx: ServiceContext, key: str | None, digest: str, run: Callable[[], Awaitable[Answer]]) -> Answer:
    if not key:
        return await run()
    claim = await _claim(ctx, key, digest)
    if isinstance(claim, Answer):
        return claim
    r = ApiIdempotencyRecord
    ours = (r.key == key, r.created_at == claim, r.status_code == 0)  # still this claim's, still in progress
    try:
        answer = await run()
    except BaseException:
        async with ctx.sessions.begin() as db:
            await db.execute(delete(r).where(*ours))
        raise
    async with ctx.sessions.begin() as db:
        stored = await db.execute(
            update(r).where(*ours).values(status_code=answer.status_code, response=json.dumps(answer.body))
        )
    if not cast("CursorResult[Any]", stored).rowcount:  # taken over after IN_PROGRESS_S: the taker's answer stands
        log.warning("an idempotent request outlived its claim (taken over): its answer was not stored")
    return answer


async def prune(ctx: ServiceContext) -> int:
    """Forget keys older than :data:`KEEP_S`."""
    cutoff = utc(ctx.clock() - KEEP_S)
    async with ctx.sessions.begin() as db:
        result = await db.execute(delete(ApiIdempotencyRecord).where(ApiIdempotencyRecord.created_at < cutoff))
    return int(cast("CursorResult[Any]", result).rowcount or 0)
