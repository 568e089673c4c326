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

import httpx
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.errors import InvalidRequest, NotFound
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
    ctx: ServiceContext, url: str, events: Sequence[str], description: str = ""
) -> dict[str, Any]:
    now = utc(ctx.clock())
    secret = new_secret()
    async with ctx.sessions.begin() as db:
        endpoint = WebhookEndpoint(url=_check_url(url), events=_check_events(events), description=description,
                                   secret=secret, enabled=True, disabled_reason="", created_at=now,
                                   updated_at=now)  # fmt: skip
        db.add(endpoint)
        await db.flush()
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
        secret = None
        if rotate_secret:
            secret = new_secret()
            endpoint.previous_secret, endpoint.previous_secret_until = (
                endpoint.secret,
                now + timedelta(seconds=ROTATION_OVERLAP_S),
            )
            endpoint.secret = secret
        endpoint.updated_at = now
        return endpoint_view(endpoint, secret=secret)


async def delete_endpoint(ctx: ServiceContext, endpoint_id: int) -> None:
    """Remove an endpoint with its deliveries and their attempts."""
    async with ctx.sessions.begin() as db:
        await _locked(db, endpoint_id)
        ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id).scalar_subquery()
        await db.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
        await db.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
        await db.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


# Delivery -----------------------------------------------------------------------------------------


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
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
    """What deliveries need besides the database: an HTTP client, the randomness of the backoff,
    the per-attempt timeout and the lease a claim holds (longer than the timeout)."""

    http: httpx.AsyncClient
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
                async with self.http.stream("POST", url, content=payload, headers=headers) as response:
                    head = b""
                    if response.is_stream_consumed:  # an in-memory answer (tests' transports)
                        head = response.content
                    else:
                        async for chunk in response.aiter_raw():  # read no more than the head we keep
                            head += chunk
                            if len(head) >= RESPONSE_HEAD_BYTES:
                                break
            latency = int((time.perf_counter() - started) * 1000)
            text = head[:RESPONSE_HEAD_BYTES].decode("utf-8", errors="replace")
            return Outcome(delivery_id, response.status_code, latency, text, "")
        except (httpx.HTTPError, TimeoutError, OSError) as error:
            latency = int((time.perf_counter() - started) * 1000)
            reason = "timeout" if isinstance(error, TimeoutError | httpx.TimeoutException) else type(error).__name__
            return Outcome(delivery_id, None, latency, "", reason[:255])


Claimed = list[tuple[WebhookDelivery, str, WebhookEndpoint]]


async def _claim(ctx: ServiceContext, *, limit: int, lease_s: float) -> Claimed:
    """Due deliveries leased to the caller, with their event bodies and endpoints."""
    now = utc(ctx.clock())
    d = WebhookDelivery
    async with ctx.sessions.begin() as db:
        query = (
            select(d.id)
            .where(d.status == "PENDING", d.next_check_at <= now, or_(d.lease_until.is_(None), d.lease_until < now))
            .order_by(d.next_check_at, d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite ignores it: there BEGIN IMMEDIATE serialises claims
        )
        ids = list((await db.execute(query)).scalars())
        if not ids:
            return []
        lease = now + timedelta(seconds=lease_s)
        await db.execute(update(d).where(d.id.in_(ids)).values(lease_until=lease).execution_options(
            synchronize_session=False))  # fmt: skip
        rows = await db.execute(
            select(d, PublicEvent.body, WebhookEndpoint)
            .join(PublicEvent, PublicEvent.id == d.event_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == d.endpoint_id)
            .where(d.id.in_(ids))
            .order_by(d.id)
        )
        return [(delivery, body, endpoint) for delivery, body, endpoint in rows.all()]


async def deliver_due(ctx: ServiceContext, sender: WebhookSender, *, limit: int = 100) -> int:
    """One delivery pass: claim due deliveries, send them (``sender.concurrency`` at a time) and
    record the outcomes in one transaction. Returns how many were claimed."""
    claimed = await _claim(ctx, limit=limit, lease_s=sender.lease_s)
    if not claimed:
        return 0
    now = ctx.clock()
    slots = asyncio.Semaphore(sender.concurrency)
    disabled = {endpoint.id for _, _, endpoint in claimed if not endpoint.enabled}

    async def one(delivery: WebhookDelivery, body: str, endpoint: WebhookEndpoint) -> Outcome | None:
        if endpoint.id in disabled:
            return None  # held until the endpoint is enabled again
        async with slots:
            return await sender.send(delivery.id, endpoint.url, body, signing_secrets(endpoint, utc(now)), now)

    outcomes = await asyncio.gather(*(one(*c) for c in claimed))
    await _record(ctx, sender, claimed, outcomes)
    return len(claimed)


async def _record(
    ctx: ServiceContext, sender: WebhookSender, claimed: Claimed,
    outcomes: Sequence[Outcome | None],
) -> None:  # fmt: skip
    now_s = ctx.clock()
    now = utc(now_s)
    d = WebhookDelivery
    attempts: list[dict[str, Any]] = []
    succeeded: set[int] = set()
    failing: set[int] = set()
    flagged: set[int] = set()
    async with ctx.sessions.begin() as db:
        for (delivery, _, endpoint), outcome in zip(claimed, outcomes, strict=True):
            if outcome is None:  # endpoint disabled: look again in an hour, no attempt made
                await db.execute(update(d).where(d.id == delivery.id).values(
                    lease_until=None, next_check_at=now + timedelta(hours=1)))  # fmt: skip
                continue
            attempts.append({"delivery_id": delivery.id, "at": now, "status_code": outcome.status_code,
                             "latency_ms": outcome.latency_ms, "response_head": outcome.head,
                             "error": outcome.error})  # fmt: skip
            values: dict[str, Any] = {"lease_until": None, "check_attempts": d.check_attempts + 1,
                                      "last_status_code": outcome.status_code}  # fmt: skip
            if outcome.delivered:
                values |= {"status": "DELIVERED", "delivered_at": now, "next_check_at": None}
                succeeded.add(endpoint.id)
            elif now_s - delivery.created_at.timestamp() >= RETRY_FOR_S:
                values |= {"status": "FAILED", "next_check_at": None}
                failing.add(endpoint.id)
                flagged.add(endpoint.id)
            else:
                retry_at = now + timedelta(seconds=backoff_s(delivery.check_attempts, sender.rng))
                values["next_check_at"] = retry_at
                failing.add(endpoint.id)
            await db.execute(update(d).where(d.id == delivery.id).values(**values))
        if attempts:
            await db.execute(insert(WebhookAttempt), attempts)
        e = WebhookEndpoint
        if succeeded:
            await db.execute(
                update(e).where(e.id.in_(succeeded), e.failing_since.is_not(None)).values(failing_since=None)
            )
        failing -= succeeded
        if failing:
            await db.execute(update(e).where(e.id.in_(failing), e.failing_since.is_(None)).values(failing_since=now))
            await db.execute(
                update(e)
                .where(
                    e.id.in_(failing), e.enabled.is_(True), e.failing_since <= now - timedelta(seconds=DISABLE_AFTER_S)
                )
                .values(enabled=False, disabled_reason="failing for 5 days", updated_at=now)
            )
        if flagged:
            await db.execute(update(e).where(e.id.in_(flagged), e.flagged_at.is_(None)).values(flagged_at=now))
