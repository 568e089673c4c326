"""Inbound notifications, either API version: verify, settle once, always leave a record.

The use case answers an :class:`Ack`; the API layer renders it the way WeChat expects (v2 XML,
v3 204 or a JSON failure). A genuine payment or refund is acknowledged even when it is flagged for an
operator (WeChat retrying cannot fix it); anything not genuine, or not ours, asks WeChat to retry
and is recorded under the order number it claims, never on that order (anyone can name one).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from silverpay.clock import utc
from silverpay.domain.orders import Action, WechatTradeState
from silverpay.errors import NotFound, NotificationRejected
from silverpay.service import refunds
from silverpay.service.context import ServiceContext
from silverpay.service.payments import apply_trade, trade_detail
from silverpay.service.refunds import delivery_detail
from silverpay.store.ledger import Settlement
from silverpay.wechat.gateway import PaymentNotice, RefundNotice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ack:
    accepted: bool  # True stops WeChat's retries
    message: str = "OK"


async def receive(ctx: ServiceContext, headers: Mapping[str, str], body: bytes, *, kind: str) -> Ack:
    """One notification as it arrived; ``kind`` names the endpoint, for the record of a rejection."""
    try:
        notice = await ctx.verifier.verify(headers, body)
    except NotificationRejected as rejected:
        return await reject(ctx, rejected, kind=kind)
    if isinstance(notice, PaymentNotice):
        return await settle_payment(ctx, notice)
    if isinstance(notice, RefundNotice):
        return await settle_refund(ctx, notice)
    log.info("notification of type %s acknowledged without action", notice.event_type)
    return Ack(True)


async def reject(ctx: ServiceContext, rejected: NotificationRejected, *, kind: str) -> Ack:
    """Not genuinely ours: record it, change nothing, ask for a retry."""
    claimed = rejected.claimed_out_trade_no
    # The claimed number is the sender's text, unverified: logged quoted and escaped, never raw.
    log.warning("notification rejected out_trade_no=%r code=%s", claimed[:64], rejected.code)
    async with ctx.ledger.transaction() as tx:  # counted per minute and reason: a flood stays small
        await tx.record_rejection(kind, rejected.code, rejected.message, claimed, now=utc(ctx.clock()))
    return Ack(False, "invalid notification")


async def settle_payment(ctx: ServiceContext, notice: PaymentNotice) -> Ack:
    """A verified payment: check it against the order, settle once, record it. A v3 delivery
    accepted before (same notification id and nonce) is refused as a replay."""
    now = ctx.clock()
    trade = notice.trade
    detail = {"verified": True, "sign_type": notice.signature, **trade_detail(trade),
              **(delivery_detail(notice.delivery) if notice.delivery else {})}  # fmt: skip
    if trade.state is WechatTradeState.SUCCESS:  # the common case: one statement where the database allows
        paid_at = trade.paid_at if trade.paid_at is not None else now
        settlement = Settlement(trade.out_trade_no, trade.amount_fen, trade.transaction_id or None, utc(paid_at),
                                utc(now), "notify", {**detail, "outcome": Action.SETTLE.value},
                                notice.delivery.key if notice.delivery else None)  # fmt: skip
        if await ctx.ledger.settle_at_once(settlement):
            return Ack(True)
    async with ctx.ledger.transaction() as tx:
        order = await tx.lock_by_out_trade_no(trade.out_trade_no)
        if order is None:
            log.warning("notification for unknown order out_trade_no=%s", trade.out_trade_no)
            tx.event(None, "wechat.notify", {**detail, "outcome": "unknown order"}, now=utc(now),
                     out_trade_no=trade.out_trade_no)  # fmt: skip
            return Ack(False, "unknown order")
        if notice.delivery is not None and not await tx.first_delivery(notice.delivery.key, order.id, now=utc(now)):
            log.warning("replayed notification refused out_trade_no=%s", trade.out_trade_no)
            tx.event(order, "wechat.notify", {**detail, "outcome": "replayed"}, now=utc(now))
            return Ack(False, "replayed notification")
        outcome, _ = await apply_trade(tx, order, trade, now=now, source="notify")
        tx.event(order, "wechat.notify", {**detail, "outcome": outcome}, now=utc(now))
    return Ack(True)


async def settle_refund(ctx: ServiceContext, notice: RefundNotice) -> Ack:
    """A verified refund notification: settle the refund once."""
    result = notice.refund
    try:
        settled = await refunds.settle(ctx, result, source="refund_notify", delivery=notice.delivery)
    except NotFound:
        log.warning("refund notification for unknown refund out_trade_no=%s", result.out_trade_no)
        unknown = {"verified": True, "outcome": "unknown refund", "out_refund_no": result.out_refund_no}
        async with ctx.ledger.transaction() as tx:
            tx.event(None, "wechat.refund_notify", unknown, now=utc(ctx.clock()), out_trade_no=result.out_trade_no)
        return Ack(False, "unknown refund")
    return Ack(True) if settled is not None else Ack(False, "replayed notification")
