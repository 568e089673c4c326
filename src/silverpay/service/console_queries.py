"""What the console reads across orders: search with totals, the needs-review queue, refunds,
rejected notifications by reason over time, and the service's health — from what is stored."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from silverpay.clock import utc
from silverpay.domain.orders import PAID_FAMILY, OrderStatus
from silverpay.domain.refunds import RefundStatus
from silverpay.service import heartbeats
from silverpay.service.context import ServiceContext
from silverpay.service.refunds import refund_view
from silverpay.service.views import order_view
from silverpay.store.models import Order, OrderEvent, PaymentAttempt, Reconciliation, Refund, RejectedNotification, User

STALE_REFUND_S = 86400  # a refund PROCESSING longer than this needs a look
WECHAT_CALLS = ("wechat.prepay", "wechat.query", "wechat.close", "wechat.refund", "wechat.refund_query")
CALL_FAILURES = frozenset({"error", "unknown"})  # outcomes of a call WeChat did not answer usefully
MAX_ID = 2**63 - 1


def order_summary(order: Order) -> dict[str, Any]:
    """An order as a row of a list: the shopper's view plus what operators search and sort by."""
    return {**order_view(order), "user_id": order.user_id, "transaction_id": order.transaction_id,
            "needs_review": order.needs_review, "review_reason": order.review_reason,
            "updated_at": order.updated_at.isoformat()}  # fmt: skip


def _matching(q: str) -> ColumnElement[bool]:
    """``q`` as an out_trade_no (or its start, or any earlier payment attempt's), a transaction_id,
    an openid, or a user id."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    alternatives = [
        Order.out_trade_no.like(escaped + "%", escape="\\"),
        Order.transaction_id == q,
        Order.id.in_(select(PaymentAttempt.order_id).where(PaymentAttempt.out_trade_no == q)),
        Order.user_id.in_(select(User.id).where(User.openid == q)),
    ]
    if q.isdigit() and int(q) <= MAX_ID:
        alternatives.append(Order.user_id == int(q))
    return or_(*alternatives)


async def search_orders(
    ctx: ServiceContext, *, q: str = "", status: str | None = None, created_from: datetime | None = None,
    created_to: datetime | None = None, min_fen: int | None = None, max_fen: int | None = None,
    needs_review: bool | None = None, page: int = 1, per_page: int = 50,
) -> dict[str, Any]:  # fmt: skip
    """Orders matching every given filter, newest first, one page of them; with the count and the
    amount totals of the whole filtered set. ``created_to`` is exclusive."""
    conditions: list[ColumnElement[bool]] = []
    if q.strip():
        conditions.append(_matching(q.strip()))
    if status:
        conditions.append(Order.status == status)
    if created_from is not None:
        conditions.append(Order.created_at >= created_from)
    if created_to is not None:
        conditions.append(Order.created_at < created_to)
    if min_fen is not None:
        conditions.append(Order.amount_fen >= min_fen)
    if max_fen is not None:
        conditions.append(Order.amount_fen <= max_fen)
    if needs_review is not None:
        conditions.append(Order.needs_review.is_(needs_review))
    paid = func.sum(case((Order.status.in_([s.value for s in PAID_FAMILY]), Order.amount_fen), else_=0))
    totals = select(func.count(), func.coalesce(func.sum(Order.amount_fen), 0), func.coalesce(paid, 0)).where(
        *conditions)  # fmt: skip
    rows = select(Order).where(*conditions).order_by(Order.id.desc()).limit(per_page).offset((page - 1) * per_page)
    async with ctx.sessions() as db:
        count, amount, paid_amount = (await db.execute(totals)).one()
        items = [order_summary(o) for o in (await db.execute(rows)).scalars()]
    return {"items": items, "total": int(count), "amount_fen": int(amount), "paid_fen": int(paid_amount),
            "page": page, "per_page": per_page}  # fmt: skip


async def review_queue(ctx: ServiceContext, *, limit: int = 200) -> list[dict[str, Any]]:
    """Every order flagged for review with its reason and when it was flagged, oldest first."""
    flagged_at = (
        select(OrderEvent.order_id, func.max(OrderEvent.created_at).label("at"))
        .where(OrderEvent.kind == "review.flagged").group_by(OrderEvent.order_id).subquery()
    )  # fmt: skip
    query = (
        select(Order, flagged_at.c.at).outerjoin(flagged_at, flagged_at.c.order_id == Order.id)
        .where(Order.needs_review.is_(True))
        .order_by(func.coalesce(flagged_at.c.at, Order.updated_at), Order.id).limit(limit)
    )  # fmt: skip
    async with ctx.sessions() as db:
        found = (await db.execute(query)).all()
    return [{**order_summary(o), "flagged_at": _aware(at or o.updated_at).isoformat()} for o, at in found]


def _aware(value: datetime) -> datetime:
    """A time from an aggregate (which bypasses the column type): UTC, aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def list_refunds(
    ctx: ServiceContext, *, status: str | None = None, page: int = 1, per_page: int = 50
) -> dict[str, Any]:
    """Refunds newest first, filtered by status, or ``stale``: PROCESSING for more than a day. Each
    says whether it is stale."""
    now = ctx.clock()
    stale_before = utc(now - STALE_REFUND_S)
    conditions: list[ColumnElement[bool]] = []
    if status == "stale":
        conditions += [Refund.status == RefundStatus.PROCESSING.value, Refund.created_at < stale_before]
    elif status:
        conditions.append(Refund.status == status)
    query = select(Refund).where(*conditions).order_by(Refund.id.desc()).limit(per_page).offset((page - 1) * per_page)
    async with ctx.sessions() as db:
        total = (await db.execute(select(func.count()).select_from(Refund).where(*conditions))).scalar_one()
        refunds = (await db.execute(query)).scalars().all()
    items = [{**refund_view(r), "stale": r.status == RefundStatus.PROCESSING and r.created_at < stale_before}
             for r in refunds]  # fmt: skip
    return {"items": items, "total": int(total), "page": page, "per_page": per_page}


async def rejected_notifications(ctx: ServiceContext, *, hours: int = 24) -> dict[str, Any]:
    """Notifications refused in the last ``hours``, grouped by reason code, most frequent first,
    each with its count per hour: a burst of one reason is a misconfigured key or a forger."""
    since = utc((ctx.clock() // 3600 - hours + 1) * 3600)
    query = select(RejectedNotification).where(RejectedNotification.minute >= since).order_by(
        RejectedNotification.minute)  # fmt: skip
    async with ctx.sessions() as db:
        rows = (await db.execute(query)).scalars().all()
    groups: dict[str, dict[str, Any]] = {}
    hourly: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        group = groups.setdefault(row.code, {"code": row.code, "total": 0, "endpoints": set(), "sample_reason":
                                             row.reason, "first_at": row.first_at, "last_at": row.last_at})  # fmt: skip
        group["total"] += row.count
        group["endpoints"].add(row.kind)
        group["first_at"], group["last_at"] = min(group["first_at"], row.first_at), max(group["last_at"], row.last_at)
        hourly[row.code][row.minute.replace(minute=0).isoformat()] += row.count
    reasons = [
        {**g, "endpoints": sorted(g["endpoints"]), "first_at": g["first_at"].isoformat(),
         "last_at": g["last_at"].isoformat(),
         "per_hour": [{"hour": hour, "count": n} for hour, n in sorted(hourly[code].items())]}
        for code, g in groups.items()
    ]  # fmt: skip
    reasons.sort(key=lambda g: (-g["total"], g["code"]))
    return {"since": since.isoformat(), "hours": hours, "total": sum(g["total"] for g in reasons), "reasons": reasons}


# Health ------------------------------------------------------------------------------------------


async def health(ctx: ServiceContext, *, api_version: str = "") -> dict[str, Any]:
    """What an operator checks first: whether the database answers, the sweeper's backlog, refunds
    stuck, the last reconciliation, the workers' heartbeats, WeChat's keys and error rate — each from
    what silverpay stores; ``missing`` names what it cannot know."""
    now = ctx.clock()
    missing: list[str] = []
    report: dict[str, Any] = {"checked_at": utc(now).isoformat()}
    started = time.perf_counter()
    try:
        async with ctx.sessions() as db:
            await db.execute(text("SELECT 1"))
            report["database"] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
            report |= await _stored_health(db, now)
            report["worker"] = heartbeats.report(await heartbeats.read(db, now))
    except (SQLAlchemyError, OSError) as error:  # the answer itself, not a failure of this request
        report["database"] = {"ok": False, "error": type(error).__name__}
        missing.append("everything stored: the database did not answer")
        report["worker"] = {"state": "unknown", "heartbeat_at": None, "workers": []}
    report["wechat"] = {"api_version": api_version or None, **report.pop("wechat_calls", {}), **_keys(ctx, now)}
    if api_version != "v3":
        missing.append("platform certificate expiry: WeChat Pay v2 signs with the API key, no certificate")
    report["missing"] = missing
    return report


async def _stored_health(db: Any, now: float) -> dict[str, Any]:
    due = [Order.status == OrderStatus.PAYING.value, Order.next_check_at <= utc(now), Order.expires_at > utc(now)]
    backlog, oldest = (await db.execute(select(func.count(), func.min(Order.next_check_at)).where(*due))).one()
    paying = (await db.execute(select(func.count()).where(Order.status == OrderStatus.PAYING.value))).scalar_one()
    stale_before = utc(now - STALE_REFUND_S)
    processing = Refund.status == RefundStatus.PROCESSING.value
    stale_ones = func.coalesce(func.sum(case((Refund.created_at < stale_before, 1), else_=0)), 0)
    refunds, stale = (await db.execute(select(func.count(), stale_ones).where(processing))).one()
    flagged = (await db.execute(select(func.count()).where(Order.needs_review.is_(True)))).scalar_one()
    runs = select(func.max(Reconciliation.bill_date))
    clean = (await db.execute(runs.where(Reconciliation.status == "CLEAN"))).scalar_one()
    finished = (await db.execute(runs.where(Reconciliation.status.in_(["CLEAN", "DISCREPANCIES"])))).scalar_one()
    calls = (await db.execute(select(OrderEvent.kind, OrderEvent.detail).where(
        OrderEvent.kind.in_(WECHAT_CALLS), OrderEvent.created_at >= utc(now - 3600)).limit(100_000))).all()  # fmt: skip
    failed = sum(1 for _, detail in calls if isinstance(detail, dict) and detail.get("outcome") in CALL_FAILURES)
    oldest_age = now - _aware(oldest).timestamp() if oldest is not None else None
    return {
        "sweeper": {"paying": int(paying), "due": int(backlog),
                    "oldest_due_age_s": round(oldest_age, 1) if oldest_age is not None else None},
        "refunds": {"processing": int(refunds), "stale": int(stale)},
        "needs_review": int(flagged),
        "reconciliation": {"last_clean_day": clean, "last_finished_day": finished},
        "wechat_calls": {"calls_last_hour": len(calls), "failed_last_hour": failed,
                         "error_rate_last_hour": round(failed / len(calls), 4) if calls else None},
    }  # fmt: skip


def _keys(ctx: ServiceContext, now: float) -> dict[str, Any]:
    """The v3 platform keys the service trusts now, with the expiry of downloaded certificates."""
    platform = getattr(ctx.pay, "platform", None)
    if platform is None:
        return {}
    expiry: dict[str, float] = getattr(platform, "certificate_expiry", {})
    keys = [{"serial": serial, "kind": "public key" if serial.startswith("PUB_KEY_ID_") else "certificate",
             "expires_at": utc(expiry[serial]).isoformat() if serial in expiry else None,
             "expires_in_days": round((expiry[serial] - now) / 86400, 1) if serial in expiry else None}
            for serial in sorted(platform.serials)]  # fmt: skip
    return {"platform_keys": keys}
