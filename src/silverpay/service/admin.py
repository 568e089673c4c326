"""What an operator reads: an order with its whole history."""

from __future__ import annotations

from typing import Any

from silverpay.errors import NotFound
from silverpay.service.context import ServiceContext
from silverpay.service.refunds import refund_view
from silverpay.service.shipping import shipment_of_order
from silverpay.service.views import admin_order_view, rejection_view
from silverpay.store import repo
from silverpay.store.models import Order


async def order_detail(ctx: ServiceContext, order_id: int) -> dict[str, Any]:
    """The order, its refunds, every event, and the latest rejected notifications that named it."""
    async with ctx.sessions() as db:
        order = await db.get(Order, order_id)
        if order is None:
            raise NotFound("no such order", code="ORDER_NOT_FOUND")
        view = admin_order_view(order, list(await repo.events_of(db, order.id)))
        rejected = [rejection_view(r) for r in await repo.rejections_claiming(db, order.out_trade_no)]
        refunds = [refund_view(r) for r in await repo.refunds_of(db, order.id)]
    shipment = await shipment_of_order(ctx, order_id)
    return {**view, "refunds": refunds, "shipment": shipment, "rejected_notifications": rejected}
