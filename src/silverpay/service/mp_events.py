"""The mini-program's message push (消息推送) at ``/api/v1/wechat/mp-events``: the URL check, and
the shipping-management events (SHIPPING.md §1.6), verified by :mod:`silverpay.wechat.miniapp.push`.

A push is a hint, never trusted on its own (a plaintext push's signature covers no content, and
WeChat's own fields are reported wrong at times): ``trade_manage_order_settlement`` and
``trade_manage_remind_shipping`` make the service read ``get_order`` and move the shipment to what
WeChat's record says; ``trade_manage_remind_access_api`` is logged for the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import or_, select

from silverpay.clock import utc
from silverpay.errors import NotFound, NotificationRejected, UpstreamError
from silverpay.service import shipping
from silverpay.service.context import ServiceContext
from silverpay.service.notifications import Ack, reject
from silverpay.store.models import Order
from silverpay.wechat.miniapp import push

log = logging.getLogger(__name__)
KIND = "wechat.mp_events"


def url_check(ctx: ServiceContext, query: Mapping[str, str]) -> str:
    """The GET check WeChat makes when the push URL is saved: ``echostr`` back, or NotificationRejected."""
    if ctx.push_keys is None:
        raise NotFound("message push is not configured (SILVERPAY_WECHAT_MSG_TOKEN)", code="PUSH_NOT_CONFIGURED")
    return push.check_url(ctx.push_keys, query)


async def receive(ctx: ServiceContext, query: Mapping[str, str], body: bytes) -> Ack:
    if ctx.push_keys is None:
        raise NotFound("message push is not configured (SILVERPAY_WECHAT_MSG_TOKEN)", code="PUSH_NOT_CONFIGURED")
    try:
        verified = push.verify_push(ctx.push_keys, query, body)
    except NotificationRejected as rejected:
        return await reject(ctx, rejected, kind=KIND)
    event = verified.event
    if isinstance(event, push.OrderSettlement | push.RemindShipping):
        return await _follow(ctx, event)
    if isinstance(event, push.RemindAccessApi):
        log.warning("WeChat asks this mini-program to upload shipping info (trade_manage_remind_access_api): %s",
                    event.message[:200])  # fmt: skip
    return Ack(True)


async def _follow(ctx: ServiceContext, event: push.OrderSettlement | push.RemindShipping) -> Ack:
    name = push.EVENT_ORDER_SETTLEMENT if isinstance(event, push.OrderSettlement) else push.EVENT_REMIND_SHIPPING
    conditions = []
    if event.transaction_id:
        conditions.append(Order.transaction_id == event.transaction_id[:32])
    if event.out_trade_no:
        conditions.append(Order.out_trade_no == event.out_trade_no[:32])
    async with ctx.sessions() as db:
        order_id = (await db.execute(select(Order.id).where(or_(*conditions)).limit(1))).scalar()
    if order_id is None:
        log.info("%s for a payment that is not ours acknowledged", name)
        return Ack(True)
    if isinstance(event, push.RemindShipping):
        async with ctx.ledger.transaction() as tx:
            order = await tx.lock(order_id)
            tx.event(order, "shipment.remind_shipping", {"message": event.message[:200]}, now=utc(ctx.clock()))
    try:
        state = await shipping.refresh(ctx, order_id, source=f"push:{name}")
    except (UpstreamError, NotFound) as error:  # WeChat retries the push; the worker's poll catches up anyway
        log.warning("%s for order %s not checked yet: %s", name, order_id, error.message)
        return Ack(False, "get_order failed, retry")
    log.info("%s for order %s: shipment %s after get_order", name, order_id, state)
    return Ack(True)
