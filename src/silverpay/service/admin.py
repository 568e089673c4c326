"""What an operator reads: an order with its whole history."""

from __future__ import annotations

from typing import Any

from silverpay.errors import NotFound
from silverpay.service.context import ServiceContext
from silverpay.service.refunds import refund_view
from silverpay.service.views import admin_order_view
from silverpay.store import repo
from silverpay.store.models import Order


async def order_detail(ctx: ServiceContext, order_id: int) -> dict[str, Any]:
    """The order, its refunds, every event, and the latest rejected messages that named it."""
    async with ctx.sessions() as db:
        order = await db.get(Order, order_id)
        if order is None:
            raise NotFound("no such order", code="ORDER_NOT_FOUND")
        events = [*await repo.events_of(db, order.id), *await repo.unverified_claims(db, order.out_trade_no)]
        view = admin_order_view(order, sorted(events, key=lambda e: e.id))
        return {**view, "refunds": [refund_view(r) for r in await repo.refunds_of(db, order.id)]}
