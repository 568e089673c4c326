"""Webhook endpoints (an owner's business) and the deliveries the worker makes to them.

A delivery is claimed like the worker's other jobs (``FOR UPDATE SKIP LOCKED`` and a lease), sent
as ``POST`` of the event's stored body signed with the endpoint's secret(s), and settled in one
transaction per batch: a 2xx within the timeout is DELIVERED; anything else is tried again after
an exponential backoff with jitter (the randomness is injected) until three days have passed, then
FAILED and the endpoint flagged; an endpoint failing for five days is disabled. Every attempt is
kept (status, latency, the first 1 KB of the answer). A worker that dies mid-delivery loses
nothing: the lease lapses and another worker sends it again (at-least-once).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.domain.operators import Operator
from silverpay.errors import InvalidRequest, NotFound
from silverpay.jobs.webhook_http import Poster, WebhookHttpError
from silverpay.service import audit
from silverpay.service.context import ServiceContext
from silverpay.service.events import EVENT_TYPES
from silverpay.store.models_integration import PublicEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from silverpay.webhooks import HEADER, sign_header

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
ROTATION_OVERLAP_S = 24 * 3600  # a rotated-out secret keeps signing this long
RETRY_FOR_S = 3 * 86400  # then the delivery is FAILED and its endpoint flagged
DISABLE_AFTER_S = 5 * 86400  # an endpoint failing this long is disabled
BACKOFF_BASE_S = 15.0
BACKOFF_CAP_S = 6 * 3600.0
RESPONSE_HEAD_BYTES = 1024


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("the endpoint URL must be http(s)://host/…")
    return url


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
    if unknown or not events:
        raise InvalidRequest(f"events are '*' or some of: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events))


def endpoint_view(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        "flagged_at": endpoint.flagged_at.isoformat() if endpoint.flagged_at else None,
        "created_at": endpoint.created_at.isoformat(),
    }
    if secret is not None:
        view["secret"] = secret  # only when created or rotated
    return view


async def create_endpoint(
    ctx: ServiceContext, url: str, events: Sequence[str], description: str = "", *, actor: Operator | None = None
) -> dict[str, Any]:
    now = utc(ctx.clock())
    secret = new_secret()
    async with ctx.sessions.begin() as db:
        endpoint = WebhookEndpoint(url=_check_url(url), events=_check_events(events), description=description,
                                   secret=secret, enabled=True, disabled_reason="", created_at=now,
                                   updated_at=now)  # fmt: skip
        db.add(endpoint)
        await db.flush()
        if actor is not None:  # the audit trail never holds the secret
            audit.record(db, actor, "webhook_endpoint.create", f"webhook_endpoint:{endpoint.id}",
                         {"url": endpoint.url, "events": endpoint.events}, now=ctx.clock())  # fmt: skip
        return endpoint_view(endpoint, secret=secret)


async def list_endpoints(ctx: ServiceContext) -> list[dict[str, Any]]:
    async with ctx.sessions() as db:
        return [
            endpoint_view(e) for e in (await db.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).scalars()
        ]


async def _locked(db: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await db.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None:
        raise NotFound("no such webhook endpoint", code="WEBHOOK_ENDPOINT_NOT_FOUND")
    return endpoint


async def update_endpoint(
    ctx: ServiceContext, endpoint_id: int, *, url: str | None = None, events: Sequence[str] | None = None,
    description: str | None = None, enabled: bool | None = None, rotate_secret: bool = False,
    actor: Operator | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Change an endpoint. ``rotate_secret``: a new secret (returned once); the old one keeps
    signing beside it for 24 hours. Enabling clears the failure record."""
    now = utc(ctx.clock())
    async with ctx.sessions.begin() as db:
        endpoint = await _locked(db, endpoint_id)
        if url is not None:
            endpoint.url = _check_url(url)
        if events is not None:
            endpoint.events = _check_events(events)
        if description is not None:
            endpoint.description = description
        if enabled is not None:
            endpoint.enabled = enabled
            endpoint.disabled_reason = "" if enabled else "disabled by an operator"
            if enabled:
                endpoint.failing_since = endpoint.flagged_at = None
                held = update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id,
                                                     WebhookDelivery.status == "PENDING")  # fmt: skip
                await db.execute(held.values(next_check_at=now))  # what waited for it goes out now
        secret = None
        if rotate_secret:
            secret = new_secret()
            endpoint.previous_secret, endpoint.previous_secret_until = (
                endpoint.secret,
                now + timedelta(seconds=ROTATION_OVERLAP_S),
            )
            endpoint.secret = secret
        endpoint.updated_at = now
        if actor is not None:
            changes = {"url": url, "events": events, "description": description, "enabled": enabled,
                       "rotate_secret": rotate_secret or None}  # fmt: skip
            audit.record(db, actor, "webhook_endpoint.update", f"webhook_endpoint:{endpoint_id}",
                         {k: v for k, v in changes.items() if v is not None}, now=ctx.clock())  # fmt: skip
        return endpoint_view(endpoint, secret=secret)


async def delete_endpoint(ctx: ServiceContext, endpoint_id: int, *, actor: Operator | None = None) -> None:
    """Remove an endpoint with its deliveries and their attempts."""
    async with ctx.sessions.begin() as db:
        endpoint = await _locked(db, endpoint_id)
        if actor is not None:
            audit.record(db, actor, "webhook_endpoint.delete", f"webhook_endpoint:{endpoint_id}",
                         {"url": endpoint.url}, now=ctx.clock())  # fmt: skip
        ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id).scalar_subquery()
        await db.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
        await db.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
        await db.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


# Delivery -----------------------------------------------------------------------------------------

_deliveries: Table = WebhookDelivery.__table__  # type: ignore[assignment]
_attempts: Table = WebhookAttempt.__table__  # type: ignore[assignment]
_endpoints: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
_events: Table = PublicEvent.__table__  # type: ignore[assignment]


def signing_secrets(endpoint: Any, now: datetime) -> list[str]:
    """The secret, and the rotated-out one while it is still valid."""
    previous = endpoint.previous_secret
    valid = previous and endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now
    return [endpoint.secret, previous] if valid and previous else [endpoint.secret]


def backoff_s(attempts: int, rng: random.Random) -> float:
    """Exponential from :data:`BACKOFF_BASE_S`, capped, with "equal jitter" (half fixed, half random)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * float(2 ** min(attempts, 30)))
    return ceiling / 2 + rng.random() * ceiling / 2


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status_code: int | None
    latency_ms: int
    head: str
    error: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class WebhookSender:
    """What deliveries need besides the database: the HTTP client (see jobs/webhook_http.py), the
    randomness of the backoff, the per-attempt timeout, the lease a claim holds (longer than the
    timeout) and how many deliveries are in flight at once."""

    poster: Poster
    rng: random.Random
    timeout_s: float = 10.0
    lease_s: float = 60.0
    concurrency: int = 16

    async def send(self, delivery_id: int, url: str, body: str, signing: list[str], now: float) -> Outcome:
        payload = body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "silverpay-webhooks/1",
                   HEADER: sign_header(payload, signing, int(now))}  # fmt: skip
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                status, head = await self.poster.post(url, payload, headers)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, WebhookHttpError, ValueError) as error:
            latency = int((time.perf_counter() - started) * 1000)
            reason = "timeout" if isinstance(error, TimeoutError) else f"{type(error).__name__}: {error}"
            return Outcome(delivery_id, None, latency, "", reason[:255])
        latency = int((time.perf_counter() - started) * 1000)
        return Outcome(delivery_id, status, latency, head[:RESPONSE_HEAD_BYTES].decode("utf-8", "replace"), "")


_CLAIMED_COLUMNS = (
    _deliveries.c.id, _deliveries.c.created_at, _deliveries.c.check_attempts, _events.c.body,
    _endpoints.c.id.label("endpoint_id"), _endpoints.c.url, _endpoints.c.secret, _endpoints.c.previous_secret,
    _endpoints.c.previous_secret_until, _endpoints.c.enabled,
)  # fmt: skip


async def _claim(ctx: ServiceContext, *, limit: int, lease_s: float) -> list[Any]:
    """Due deliveries leased to the caller, each with its event's body and its endpoint."""
    now = utc(ctx.clock())
    d = _deliveries.c
    async with ctx.sessions.begin() as db:
        free = or_(d.lease_until.is_(None), d.lease_until < now)
        query = (
            select(d.id)
            .where(d.status == "PENDING", d.next_check_at <= now, free)
            .order_by(d.next_check_at, d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite ignores it: there BEGIN IMMEDIATE serialises claims
        )
        ids = list((await db.execute(query)).scalars())
        if not ids:
            return []
        lease = now + timedelta(seconds=lease_s)
        await db.execute(update(_deliveries).where(d.id.in_(ids)).values(lease_until=lease))
        rows = await db.execute(
            select(*_CLAIMED_COLUMNS)
            .select_from(_deliveries.join(_events, _events.c.id == d.event_id).join(_endpoints,
                                                                                    _endpoints.c.id == d.endpoint_id))
            .where(d.id.in_(ids))
            .order_by(d.id)
        )  # fmt: skip
        return list(rows.all())


async def deliver_due(ctx: ServiceContext, sender: WebhookSender, *, limit: int = 100) -> int:
    """One delivery pass: claim due deliveries, send them (``sender.concurrency`` at a time) and
    record the outcomes in one transaction. Returns how many were claimed."""
    claimed = await _claim(ctx, limit=limit, lease_s=sender.lease_s)
    if not claimed:
        return 0
    now = ctx.clock()
    slots = asyncio.Semaphore(sender.concurrency)

    async def one(row: Any) -> Outcome | None:
        if not row.enabled:
            return None  # held until the endpoint is enabled again
        async with slots:
            return await sender.send(row.id, row.url, row.body, signing_secrets(row, utc(now)), now)

    outcomes = await asyncio.gather(*(one(row) for row in claimed))
    await _record(ctx, sender, claimed, outcomes)
    return len(claimed)


async def _record(
    ctx: ServiceContext, sender: WebhookSender, claimed: list[Any], outcomes: Sequence[Outcome | None]
) -> None:
    """Every outcome of a pass in one transaction: the deliveries answered 2xx in one statement per
    status code, the others one each (each has its own retry time), the attempts in one INSERT."""
    now_s = ctx.clock()
    now = utc(now_s)
    d = _deliveries.c
    attempts: list[dict[str, Any]] = []
    delivered: dict[int, list[int]] = {}
    held: list[int] = []
    retries: list[tuple[int, dict[str, Any]]] = []
    succeeded: set[int] = set()
    failing: set[int] = set()
    flagged: set[int] = set()
    for row, outcome in zip(claimed, outcomes, strict=True):
        if outcome is None:
            held.append(row.id)
            continue
        attempts.append({"delivery_id": row.id, "at": now, "status_code": outcome.status_code,
                         "latency_ms": outcome.latency_ms, "response_head": outcome.head,
                         "error": outcome.error})  # fmt: skip
        if outcome.delivered:
            delivered.setdefault(int(outcome.status_code or 0), []).append(row.id)
            succeeded.add(row.endpoint_id)
        elif now_s - row.created_at.timestamp() >= RETRY_FOR_S:
            retries.append(
                (row.id, {"status": "FAILED", "next_check_at": None, "last_status_code": outcome.status_code})
            )
            failing.add(row.endpoint_id)
            flagged.add(row.endpoint_id)
        else:
            retry_at = now + timedelta(seconds=backoff_s(row.check_attempts, sender.rng))
            retries.append((row.id, {"next_check_at": retry_at, "last_status_code": outcome.status_code}))
            failing.add(row.endpoint_id)
    async with ctx.sessions.begin() as db:
        for code, ids in delivered.items():
            await db.execute(
                update(_deliveries).where(d.id.in_(ids)).values(
                    status="DELIVERED", delivered_at=now, next_check_at=None, lease_until=None,
                    check_attempts=d.check_attempts + 1, last_status_code=code,
                )
            )  # fmt: skip
        for delivery_id, values in retries:
            await db.execute(update(_deliveries).where(d.id == delivery_id).values(
                lease_until=None, check_attempts=d.check_attempts + 1, **values))  # fmt: skip
        if held:  # endpoint disabled: no attempt made; looked at again in an hour
            await db.execute(update(_deliveries).where(d.id.in_(held)).values(
                lease_until=None, next_check_at=now + timedelta(hours=1)))  # fmt: skip
        if attempts:
            await db.execute(insert(_attempts), attempts)
        await _endpoint_health(db, now, succeeded, failing - succeeded, flagged)


async def _endpoint_health(
    db: AsyncSession, now: datetime, succeeded: set[int], failing: set[int], flagged: set[int]
) -> None:
    """A success clears an endpoint's failure streak; a failure starts one; five days of it disable
    the endpoint; a delivery given up on flags it."""
    e = _endpoints.c
    if succeeded:
        await db.execute(update(_endpoints).where(e.id.in_(succeeded), e.failing_since.is_not(None)).values(
            failing_since=None))  # fmt: skip
    if failing:
        await db.execute(update(_endpoints).where(e.id.in_(failing), e.failing_since.is_(None)).values(
            failing_since=now))  # fmt: skip
        await db.execute(
            update(_endpoints)
            .where(e.id.in_(failing), e.enabled.is_(True), e.failing_since <= now - timedelta(seconds=DISABLE_AFTER_S))
            .values(enabled=False, disabled_reason="failing for 5 days", updated_at=now)
        )
    if flagged:
        await db.execute(update(_endpoints).where(e.id.in_(flagged), e.flagged_at.is_(None)).values(flagged_at=now))
