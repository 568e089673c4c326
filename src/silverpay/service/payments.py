"""Paying, confirming, cancelling, and settling orders from what WeChat says.

The rule everywhere: call WeChat outside any database transaction, then apply its answer in one
short transaction that locks the order row and moves it with a guarded UPDATE. Whatever arrives
first (notification, confirm, cancel, a background query) settles the order; the others find it
settled and record themselves as duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.domain.orders import OPEN, OrderStatus, Verdict, check_payment, verdict_for
from silverpay.errors import (
    Conflict,
    NotificationRejected,
    ProtocolError,
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    UpstreamError,
)
from silverpay.service.context import ServiceContext
from silverpay.service.orders import owned_order
from silverpay.service.views import order_view
from silverpay.store import repo
from silverpay.store.models import Order, User
from silverpay.wechat.gateway import Notification, NotificationReply, PayParams, PrepayRequest, TradeStatus

log = logging.getLogger(__name__)

PREPAY_REUSE_MARGIN_S = 600  # hand out a stored prepay only if it stays valid well past the user's tap
MIN_PAYABLE_S = 5 * 60 + 30  # WeChat wants time_expire at least 5 minutes ahead (SPEC §2.3)
CLOSE_MIN_AGE_S = 5 * 60  # WeChat ignores closeorder in an order's first 5 minutes (SPEC §2.6)


def _trade_detail(trade: TradeStatus) -> dict[str, Any]:
    return {
        "trade_state": trade.state.value,
        "amount_fen": trade.amount_fen,
        "transaction_id": trade.transaction_id,
        "paid_at": trade.paid_at,
    }


async def _record_failure(ctx: ServiceContext, order: Order, kind: str, error: UpstreamError) -> None:
    log.warning("%s failed out_trade_no=%s code=%s: %s", kind, order.out_trade_no, error.code, error.message)
    async with ctx.sessions.begin() as db:
        repo.add_event(db, order, kind, {"outcome": "error", "code": error.code, "message": error.message},
                       now=utc(ctx.clock()))  # fmt: skip


async def apply_trade(db: AsyncSession, order: Order, trade: TradeStatus, *, now: float, source: str) -> str:
    """Apply WeChat's view of a trade to a LOCKED order; returns what happened, for the record."""
    verdict = verdict_for(trade.state)
    status = OrderStatus(order.status)
    if verdict is Verdict.PAID:
        if status.paid:
            if trade.transaction_id and order.transaction_id and trade.transaction_id != order.transaction_id:
                await _flag(db, order, f"second transaction {trade.transaction_id} for a paid order", now)
                return "flagged"
            return "duplicate"
        check = check_payment(order.amount_fen, status, trade.amount_fen)
        if not check.ok:
            await _flag(db, order, check.reason, now)
            return "flagged"
        paid_at = utc(trade.paid_at if trade.paid_at is not None else now)
        moved = await repo.transition(
            db, order, OrderStatus.PAID, now=utc(now), source=source,
            transaction_id=trade.transaction_id or None, paid_at=paid_at,
        )  # fmt: skip
        return "settled" if moved else "duplicate"
    if verdict is Verdict.CLOSED:
        if status in OPEN:
            await repo.transition(db, order, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
            return "closed"
        if status.paid:
            await _flag(db, order, f"WeChat reports {trade.state.value} for an order paid here", now)
            return "flagged"
        return "duplicate"
    return "pending"


async def _flag(db: AsyncSession, order: Order, reason: str, now: float) -> None:
    if await repo.flag_for_review(db, order, reason, now=utc(now)):  # a retried notification flags once
        log.warning("order flagged for review out_trade_no=%s: %s", order.out_trade_no, reason)


async def sync_from_wechat(ctx: ServiceContext, order: Order, *, source: str) -> Order:
    """Ask WeChat (orderquery) and settle the order from its answer."""
    try:
        trade = await ctx.gateway.query(order.out_trade_no)
    except TradeNotFound:
        async with ctx.sessions.begin() as db:
            repo.add_event(db, order, "wechat.query", {"source": source, "outcome": "not found"}, now=utc(ctx.clock()))
        return order
    except UpstreamError as error:
        await _record_failure(ctx, order, "wechat.query", error)
        raise
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        locked = await repo.lock_order(db, order.id)
        outcome = await apply_trade(db, locked, trade, now=now, source=source)
        repo.add_event(db, locked, "wechat.query", {"source": source, **_trade_detail(trade), "outcome": outcome},
                       now=utc(now))  # fmt: skip
        return locked


async def pay(ctx: ServiceContext, user_id: int, order_id: int) -> PayParams:
    order = await owned_order(ctx, user_id, order_id)
    now = ctx.clock()
    _refuse_if_final(order)
    if (
        order.prepay_id
        and order.prepay_expires_at
        and order.prepay_expires_at.timestamp() > now + PREPAY_REUSE_MARGIN_S
    ):
        return ctx.gateway.pay_params(order.prepay_id)
    if order.expires_at.timestamp() - now < MIN_PAYABLE_S:
        raise Conflict("the order has expired; create a new one", code="ORDER_EXPIRED")
    async with ctx.sessions() as db:
        user = await db.get(User, order.user_id)
    if user is None:
        raise ProtocolError("order without a user")
    request = PrepayRequest(
        out_trade_no=order.out_trade_no,
        description=order.description,
        amount_fen=order.amount_fen,
        openid=user.openid,
        notify_url=ctx.notify_url,
        expires_at=order.expires_at.timestamp(),
        client_ip=order.client_ip,
    )
    try:
        prepay = await ctx.gateway.prepay(request)
    except (TradeAlreadyPaid, TradeClosed) as answer:
        # WeChat knows better than we do: settle from its record instead of failing.
        await _record_failure(ctx, order, "wechat.prepay", answer)
        _refuse_if_final(await sync_from_wechat(ctx, order, source="pay"))
        raise Conflict("WeChat reports this order as settled", code=answer.code) from None
    except UpstreamError as error:
        await _record_failure(ctx, order, "wechat.prepay", error)
        raise
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        locked = await repo.lock_order(db, order.id)
        repo.add_event(db, locked, "wechat.prepay", {"outcome": "ok", "prepay_id": prepay.prepay_id}, now=utc(now))
        moved = await repo.transition(
            db, locked, OrderStatus.PAYING, now=utc(now), source="pay",
            prepay_id=prepay.prepay_id, prepay_expires_at=utc(prepay.expires_at),
            wechat_created_at=locked.wechat_created_at or utc(now),
            next_check_at=locked.next_check_at or utc(now + ctx.next_check_delay(0)),  # the sweeper's first look
        )  # fmt: skip
    if not moved:  # settled or closed while we were asking WeChat
        _refuse_if_final(locked)
    return ctx.gateway.pay_params(prepay.prepay_id)


def _refuse_if_final(order: Order) -> None:
    if OrderStatus(order.status).paid:
        raise Conflict("the order is already paid", code="ORDER_ALREADY_PAID")
    if order.status == OrderStatus.CLOSED:
        raise Conflict("the order is closed", code="ORDER_CLOSED")


async def confirm(ctx: ServiceContext, user_id: int, order_id: int) -> dict[str, Any]:
    """After ``wx.requestPayment`` says ok: trust WeChat's record, not the mini-program."""
    order = await owned_order(ctx, user_id, order_id)
    if OrderStatus(order.status).terminal or order.status == OrderStatus.CREATED:
        return order_view(order)  # settled already, or never reached WeChat
    return order_view(await sync_from_wechat(ctx, order, source="confirm"))


async def cancel(ctx: ServiceContext, user_id: int, order_id: int) -> dict[str, Any]:
    order = await owned_order(ctx, user_id, order_id)
    if order.status == OrderStatus.CREATED:  # no trade at WeChat yet: close here only
        now = ctx.clock()
        async with ctx.sessions.begin() as db:
            locked = await repo.lock_order(db, order.id)
            if locked.status == OrderStatus.CREATED:
                await repo.transition(db, locked, OrderStatus.CLOSED, now=utc(now), source="cancel",
                                      closed_at=utc(now))  # fmt: skip
            order = locked  # or whatever a concurrent pay made of it
    if order.status == OrderStatus.CLOSED:
        return order_view(order)
    if OrderStatus(order.status).paid:
        raise Conflict("the order is already paid", code="ORDER_ALREADY_PAID")
    return order_view(await close_order(ctx, order, source="cancel"))


async def close_order(ctx: ServiceContext, order: Order, *, source: str) -> Order:
    """Close at WeChat first, then here; a payment WeChat reports instead settles the order."""
    now = ctx.clock()
    age = now - (order.wechat_created_at.timestamp() if order.wechat_created_at else now)
    if age < CLOSE_MIN_AGE_S:
        # WeChat would answer SUCCESS yet keep the order payable. Settle from its record if it was
        # paid or closed meanwhile; otherwise the caller must come back.
        synced = await sync_from_wechat(ctx, order, source=source)
        if OrderStatus(synced.status).terminal:
            return synced
        wait = int(CLOSE_MIN_AGE_S - age) + 1
        message = f"WeChat cannot close an order in its first 5 minutes; retry in {wait} s"
        raise Conflict(message, code="CANCEL_TOO_EARLY")
    try:
        await ctx.gateway.close(order.out_trade_no)
        outcome = "closed"
    except TradeAlreadyPaid:
        return await sync_from_wechat(ctx, order, source=source)
    except (TradeClosed, TradeNotFound) as answer:
        outcome = answer.upstream_code  # closed or never created there: close here too
    except UpstreamError as error:
        await _record_failure(ctx, order, "wechat.close", error)
        raise
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        locked = await repo.lock_order(db, order.id)
        repo.add_event(db, locked, "wechat.close", {"outcome": outcome, "source": source}, now=utc(now))
        await repo.transition(db, locked, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
        return locked


async def handle_notification(ctx: ServiceContext, body: bytes) -> NotificationReply:
    """A v2 payment notification: verify, check, settle once; always leave a record."""
    try:
        notification = ctx.gateway.parse_notification(body)
    except ProtocolError as rejected:
        return await reject_notification(ctx, rejected)
    return await settle_notification(ctx, notification)


@dataclass(frozen=True)
class Delivery:
    """One v3 notification delivery: its id and the nonce it was signed with. A replay repeats
    both; WeChat's own retries and duplicates are signed afresh, so they do not."""

    notification_id: str
    nonce: str

    def detail(self) -> dict[str, str]:
        return {"notification_id": self.notification_id, "delivery_nonce": self.nonce}


async def replayed(db: AsyncSession, order: Order, delivery: Delivery) -> bool:
    """Whether this exact delivery was already accepted for ``order`` (call under the order's lock,
    so concurrent copies on several processes see each other)."""
    wanted = delivery.detail()
    return any(all(e.detail.get(k) == v for k, v in wanted.items()) for e in await repo.events_of(db, order.id))


async def reject_notification(
    ctx: ServiceContext, rejected: ProtocolError, *, kind: str = "wechat.notify"
) -> NotificationReply:
    """A notification that is not genuinely ours: record it (against the order it claims, if
    any), change nothing, and ask for a retry."""
    now = ctx.clock()
    claimed = rejected.claimed_out_trade_no if isinstance(rejected, NotificationRejected) else ""
    log.warning("notification rejected out_trade_no=%s code=%s", claimed or "-", rejected.code)
    async with ctx.sessions.begin() as db:
        # Not attached to the order it names (anyone can name one): kept under that number instead.
        detail = {"verified": False, "code": rejected.code, "reason": rejected.message, "outcome": "rejected"}
        repo.add_event(db, None, kind, detail, now=utc(now), out_trade_no=claimed)
    return ctx.gateway.reply(False, "invalid notification")


async def settle_notification(
    ctx: ServiceContext, notification: Notification, *, delivery: Delivery | None = None
) -> NotificationReply:
    """A verified payment notification (either API version): check it, settle once, record it.

    ``delivery`` (v3) refuses a replay of a delivery already accepted."""
    now = ctx.clock()
    trade = notification.trade
    async with ctx.sessions.begin() as db:
        order = await repo.order_by_out_trade_no(db, trade.out_trade_no, lock=True)
        detail = {"verified": True, "sign_type": notification.sign_type, **_trade_detail(trade),
                  **(delivery.detail() if delivery else {})}  # fmt: skip
        if order is None:
            log.warning("notification for unknown order out_trade_no=%s", trade.out_trade_no)
            repo.add_event(db, None, "wechat.notify", {**detail, "outcome": "unknown order"}, now=utc(now),
                           out_trade_no=trade.out_trade_no)  # fmt: skip
            return ctx.gateway.reply(False, "unknown order")
        if delivery is not None and await replayed(db, order, delivery):
            log.warning("replayed notification refused out_trade_no=%s", trade.out_trade_no)
            repo.add_event(db, order, "wechat.notify", {**detail, "outcome": "replayed"}, now=utc(now))
            return ctx.gateway.reply(False, "replayed notification")
        outcome = await apply_trade(db, order, trade, now=now, source="notify")
        repo.add_event(db, order, "wechat.notify", {**detail, "outcome": outcome}, now=utc(now))
    # Flagged payments are acknowledged too: WeChat retrying cannot fix them, an operator must.
    return ctx.gateway.reply(True)
