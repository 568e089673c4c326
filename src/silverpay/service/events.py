"""Public events, published from the outbox the ledger already writes.

Every business change writes its ``order_events`` row in the transaction of the change. The public
events are those rows (same id, ``evt_<id>``) whose kind and detail name a change merchants
subscribe to (:func:`public_type`); the publisher (a worker job) gives each its body — the object
as the API shows it, read when it is published, normally within a second of the change — and one
delivery per subscribed webhook endpoint, in one transaction. One publisher at a time holds the
feed row's lock (SKIP LOCKED: the others find nothing to do); ids the previous pass saw are scanned
once more before the cursor passes them, so a transaction that committed late is not skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.domain.operators import Operator
from silverpay.errors import NotFound
from silverpay.service import audit
from silverpay.service.context import ServiceContext
from silverpay.service.merchant_payments import payment_view
from silverpay.service.refunds import refund_view
from silverpay.store.models import Order, OrderEvent, Refund
from silverpay.store.models_integration import (
    EventFeed,
    MerchantPayment,
    PublicEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

EVENT_TYPES = ("order.paid", "order.closed", "order.needs_review", "refund.succeeded", "refund.closed",
               "refund.needs_review", "shipment.shipped", "shipment.received", "shipment.settled",
               "shipment.blocked")  # fmt: skip
_ORDER_STATUS = {"PAID": "order.paid", "CLOSED": "order.closed"}
_REFUND_STATUS = {"SUCCESS": "refund.succeeded", "CLOSED": "refund.closed", "ABNORMAL": "refund.needs_review"}
# What WeChat's shipping management reports back (the submitted state is our own step, not news).
_SHIPMENT_STATE = {"SHIPPED": "shipment.shipped", "RECEIVED": "shipment.received", "SETTLED": "shipment.settled",
                   "BLOCKED": "shipment.blocked"}  # fmt: skip
SOURCE_KINDS = ("status", "review.flagged", "refund.status", "shipment.status")
LISTED_DAYS = 30
PUBLISH_BATCH = 500


def public_type(kind: str, detail: dict[str, Any]) -> str | None:
    """The public event an ``order_events`` row is, if any."""
    if kind == "status":
        return _ORDER_STATUS.get(str(detail.get("to")))
    if kind == "review.flagged":
        return "order.needs_review"
    if kind == "refund.status":
        return _REFUND_STATUS.get(str(detail.get("to")))
    if kind == "shipment.status":
        return _SHIPMENT_STATE.get(str(detail.get("to")))
    return None


def event_id(row_id: int) -> str:
    return f"evt_{row_id}"


def parse_event_id(text: str) -> int:
    number = text.removeprefix("evt_")
    if not number.isdigit() or not 0 < int(number) < 2**63:
        raise NotFound("no such event", code="EVENT_NOT_FOUND")
    return int(number)


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return "*" in endpoint.events or event_type in endpoint.events


async def _feed(db: AsyncSession) -> EventFeed | None:
    """The feed row, locked; None while another publisher holds it."""
    query = select(EventFeed).where(EventFeed.id == 1).with_for_update(skip_locked=True)
    feed = (await db.execute(query)).scalar_one_or_none()
    if feed is None and (await db.execute(select(EventFeed.id).where(EventFeed.id == 1))).first() is None:
        feed = EventFeed(id=1, done_until=0, seen_until=0)  # an emptied database: publish from the start
        db.add(feed)
        await db.flush()
    return feed


async def _objects(db: AsyncSession, rows: Sequence[OrderEvent]) -> tuple[dict[int, Any], dict[str, Refund]]:
    """The orders (with their merchant payment) and refunds the rows name, read in two queries."""
    order_ids = {r.order_id for r in rows if r.order_id is not None}
    query = select(Order, MerchantPayment).outerjoin(MerchantPayment, MerchantPayment.order_id == Order.id)
    orders = {o.id: (o, m) for o, m in (await db.execute(query.where(Order.id.in_(order_ids)))).all()}
    numbers = {str(r.detail.get("out_refund_no")) for r in rows if r.kind == "refund.status"}
    refunds = {}
    if numbers:
        refunds = {
            r.out_refund_no: r
            for r in (await db.execute(select(Refund).where(Refund.out_refund_no.in_(numbers)))).scalars()
        }
    return orders, refunds


def _body(row: OrderEvent, event_type: str, orders: dict[int, Any], refunds: dict[str, Refund]) -> str | None:
    if event_type.startswith("refund."):
        refund = refunds.get(str(row.detail.get("out_refund_no")))
        if refund is None:
            return None
        obj = {"object": "refund", **refund_view(refund)}
    else:
        if row.order_id not in orders:
            return None
        order, merchant = orders[row.order_id]
        obj = payment_view(order, merchant, order.user_id)
        if event_type == "order.needs_review":
            obj["review_reason"] = order.review_reason
        if event_type.startswith("shipment."):
            obj = {"object": "shipment", "state": row.detail.get("to"), "previous_state": row.detail.get("from"),
                   "source": row.detail.get("source"), "payment": obj}  # fmt: skip
    event = {"id": event_id(row.id), "type": event_type, "created": int(row.created_at.timestamp()),
             "data": {"object": obj}}  # fmt: skip
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


async def publish(ctx: ServiceContext, *, limit: int = PUBLISH_BATCH) -> int:
    """One publisher pass; returns how many events it published."""
    now = utc(ctx.clock())
    async with ctx.sessions.begin() as db:
        feed = await _feed(db)
        if feed is None:
            return 0
        query = (
            select(OrderEvent)
            .where(OrderEvent.id > feed.done_until, OrderEvent.kind.in_(SOURCE_KINDS))
            .order_by(OrderEvent.id)
            .limit(limit)
        )
        rows = list((await db.execute(query)).scalars())
        typed = [(r, t) for r in rows if (t := public_type(r.kind, r.detail)) is not None]
        done = set()
        if typed:
            ids = [r.id for r, _ in typed]
            done = set((await db.execute(select(PublicEvent.id).where(PublicEvent.id.in_(ids)))).scalars())
        fresh = [(r, t) for r, t in typed if r.id not in done]
        published = 0
        if fresh:
            orders, refunds = await _objects(db, [r for r, _ in fresh])
            endpoints = list(
                (await db.execute(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))).scalars()
            )
            events, deliveries = [], []
            for row, event_type in fresh:
                body = _body(row, event_type, orders, refunds)
                if body is None:
                    continue
                events.append({"id": row.id, "type": event_type, "order_id": row.order_id, "body": body,
                               "created_at": row.created_at})  # fmt: skip
                deliveries += [
                    {"event_id": row.id, "endpoint_id": e.id, "status": "PENDING", "created_at": now,
                     "next_check_at": now, "check_attempts": 0}
                    for e in endpoints if subscribed(e, event_type)
                ]  # fmt: skip
            if events:
                await db.execute(insert(PublicEvent), events)
            if deliveries:
                await db.execute(insert(WebhookDelivery), deliveries)
            published = len(events)
        # The cursor moves to what the last pass saw (scanned again just now), never past this batch.
        newest = (await db.execute(select(func.max(OrderEvent.id)))).scalar() or 0
        done_until = feed.seen_until if len(rows) < limit else min(feed.seen_until, rows[-1].id)
        feed.done_until = max(feed.done_until, done_until)
        feed.seen_until = max(newest, feed.done_until)
    return published


# Reading and resending ----------------------------------------------------------------------------


def _delivery_view(delivery: WebhookDelivery, attempts: Sequence[WebhookAttempt] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "status": delivery.status,
        "attempts": delivery.check_attempts,
        "last_status_code": delivery.last_status_code,
        "next_attempt_at": delivery.next_check_at.isoformat() if delivery.next_check_at else None,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }
    if attempts is not None:
        view["attempt_log"] = [
            {"at": a.at.isoformat(), "status_code": a.status_code, "latency_ms": a.latency_ms,
             "response_head": a.response_head, "error": a.error}
            for a in attempts
        ]  # fmt: skip
    return view


def event_view(event: PublicEvent, deliveries: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(event.body)
    if deliveries is not None:
        view["deliveries"] = list(deliveries)
    return view


async def list_events(
    ctx: ServiceContext, *, event_type: str | None = None, since: datetime | None = None,
    delivery_failed: bool = False, limit: int = 100,
) -> list[dict[str, Any]]:  # fmt: skip
    """Events of the last 30 days, newest first, each with its deliveries."""
    oldest = utc(ctx.clock()) - timedelta(days=LISTED_DAYS)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is UTC
    query = select(PublicEvent).where(PublicEvent.created_at >= max(oldest, since or oldest))
    if event_type:
        query = query.where(PublicEvent.type == event_type)
    if delivery_failed:
        failed = select(WebhookDelivery.id).where(WebhookDelivery.event_id == PublicEvent.id,
                                                  WebhookDelivery.status == "FAILED")  # fmt: skip
        query = query.where(failed.exists())
    async with ctx.sessions() as db:
        events = list((await db.execute(query.order_by(PublicEvent.id.desc()).limit(limit))).scalars())
        deliveries: dict[int, list[dict[str, Any]]] = {e.id: [] for e in events}
        if events:
            found = select(WebhookDelivery).where(WebhookDelivery.event_id.in_(list(deliveries)))
            for d in (await db.execute(found.order_by(WebhookDelivery.id))).scalars():
                deliveries[d.event_id].append(_delivery_view(d))
    return [event_view(e, deliveries[e.id]) for e in events]


async def get_event(ctx: ServiceContext, ident: str) -> dict[str, Any]:
    """One event with every delivery and each delivery's attempts."""
    async with ctx.sessions() as db:
        event = await db.get(PublicEvent, parse_event_id(ident))
        if event is None:
            raise NotFound("no such event", code="EVENT_NOT_FOUND")
        views = []
        query = select(WebhookDelivery).where(WebhookDelivery.event_id == event.id).order_by(WebhookDelivery.id)
        for d in (await db.execute(query)).scalars():
            attempts = select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id).order_by(WebhookAttempt.id)
            views.append(_delivery_view(d, list((await db.execute(attempts)).scalars())))
    return event_view(event, views)


async def resend(
    ctx: ServiceContext, ident: str, endpoint_id: int | None = None, *, actor: Operator | None = None
) -> dict[str, Any]:
    """Deliver an event again (to one endpoint, or every enabled endpoint subscribed to it), as a
    fresh delivery: due now, three more days of retries. Its earlier attempts are kept."""
    now = utc(ctx.clock())
    async with ctx.sessions.begin() as db:
        event = await db.get(PublicEvent, parse_event_id(ident))
        if event is None:
            raise NotFound("no such event", code="EVENT_NOT_FOUND")
        query = select(WebhookEndpoint)
        if endpoint_id is not None:
            query = query.where(WebhookEndpoint.id == endpoint_id)
        endpoints = [e for e in (await db.execute(query)).scalars() if endpoint_id is not None or (
            e.enabled and subscribed(e, event.type))]  # fmt: skip
        if endpoint_id is not None and not endpoints:
            raise NotFound("no such webhook endpoint", code="WEBHOOK_ENDPOINT_NOT_FOUND")
        for endpoint in endpoints:
            existing = (
                await db.execute(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.event_id == event.id, WebhookDelivery.endpoint_id == endpoint.id)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if existing is None:
                db.add(WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, status="PENDING", created_at=now,
                                       next_check_at=now, check_attempts=0))  # fmt: skip
            else:
                existing.status, existing.created_at, existing.next_check_at = "PENDING", now, now
                existing.delivered_at = None
        if actor is not None:
            audit.record(db, actor, "event.resend", event_id(event.id), {"endpoints": [e.id for e in endpoints]},
                         now=ctx.clock())  # fmt: skip
    return await get_event(ctx, ident)


async def events_after(
    ctx: ServiceContext, after: int | None, *, types: Sequence[str] = (), limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """Events after ``after`` (an event id number) oldest first, and the cursor to ask from next;
    ``after=None`` starts from now (no events, the cursor of the newest)."""
    async with ctx.sessions() as db:
        if after is None:
            newest = (await db.execute(select(func.max(PublicEvent.id)))).scalar() or 0
            return [], int(newest)
        query = select(PublicEvent).where(PublicEvent.id > after)
        if types:
            query = query.where(PublicEvent.type.in_(list(types)))
        events = list((await db.execute(query.order_by(PublicEvent.id).limit(limit))).scalars())
    return [event_view(e) for e in events], (events[-1].id if events else after)


async def prune(ctx: ServiceContext, *, keep_days: int = LISTED_DAYS, batch: int = 1000) -> int:
    """Forget published events older than ``keep_days`` with their deliveries and attempts (none
    still PENDING); their ``order_events`` rows stay. Returns how many events went."""
    cutoff = utc(ctx.clock()) - timedelta(days=keep_days)
    pending = select(WebhookDelivery.id).where(WebhookDelivery.event_id == PublicEvent.id,
                                               WebhookDelivery.status == "PENDING")  # fmt: skip
    async with ctx.sessions.begin() as db:
        old = select(PublicEvent.id).where(PublicEvent.created_at < cutoff, ~pending.exists()).limit(batch)
        ids = list((await db.execute(old)).scalars())
        if ids:
            deliveries = list(
                (await db.execute(select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(ids)))).scalars()
            )
            if deliveries:
                await db.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
                await db.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(deliveries)))
            await db.execute(delete(PublicEvent).where(PublicEvent.id.in_(ids)))
    return len(ids)
