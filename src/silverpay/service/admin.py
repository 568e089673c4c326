"""What an operator reads about an order, and does to it: re-query WeChat, close, resolve a review
flag, re-send a refund. Each action is an ``operator.<action>`` event of the order naming who
(operator id and email, or "admin-token"), their role and address; it is written under the
order's row lock after the state check, in the transaction of the change where the change is
local (a review resolved), and just before WeChat is asked where WeChat makes the change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import update

from silverpay.clock import utc
from silverpay.domain.operators import Operator
from silverpay.domain.orders import OPEN, OrderStatus
from silverpay.domain.refunds import RefundStatus
from silverpay.errors import Conflict, NotFound
from silverpay.service import audit, payments, reconcile, refunds
from silverpay.service.context import ServiceContext
from silverpay.service.refunds import refund_view
from silverpay.service.shipping import shipment_of_order
from silverpay.service.views import admin_order_view, rejection_view
from silverpay.store import repo
from silverpay.store.ledger import CoreLedger, LedgerTx, OrderRow
from silverpay.store.models import Order, Refund

SOURCE = "operator"  # the ``source`` of status changes an operator's action causes


async def order_detail(ctx: ServiceContext, order_id: int) -> dict[str, Any]:
    """The order, its refunds, every event, and the latest rejected notifications that named it."""
    async with ctx.sessions() as db:
        order = await db.get(Order, order_id)
        if order is None:
            raise NotFound("no such order", code="ORDER_NOT_FOUND")
        view = admin_order_view(order, list(await repo.events_of(db, order.id)))
        rejected = [rejection_view(r) for r in await repo.rejections_claiming(db, order.out_trade_no)]
        refund_rows = await repo.refunds_of(db, order.id)
        refundable = _refundable(order, refund_rows)
    shipment = await shipment_of_order(ctx, order_id)
    return {**view, "refunds": [refund_view(r) for r in refund_rows], "refundable_fen": refundable,
            "shipment": shipment, "rejected_notifications": rejected}  # fmt: skip


def _refundable(order: Order, refund_rows: Sequence[Refund]) -> int:
    """What a new refund may still take: the paid amount less every refund not CLOSED (surplus ones aside)."""
    if OrderStatus(order.status) not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
        return 0
    reserved = sum(r.amount_fen for r in refund_rows if not r.surplus and r.status != RefundStatus.CLOSED)
    return max(order.amount_fen - reserved, 0)


async def _lock(tx: LedgerTx, order_id: int) -> OrderRow:
    order = await tx.lock(order_id)
    if order is None:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
    return order


async def requery(ctx: ServiceContext, order_id: int, *, actor: Operator) -> dict[str, Any]:
    """Ask WeChat about the order now (orderquery) and settle it from the answer (support)."""
    async with ctx.ledger.transaction() as tx:
        order = await _lock(tx, order_id)
        tx.event(order, "operator.requery", actor.audit(), now=utc(ctx.clock()))
    await payments.sync_from_wechat(ctx, order, source=SOURCE)
    return await order_detail(ctx, order_id)


async def close(ctx: ServiceContext, order_id: int, *, actor: Operator) -> dict[str, Any]:
    """Close an unpaid order, at WeChat first (support); a payment WeChat reports settles it instead.
    ``ORDER_ALREADY_PAID`` / ``ORDER_CLOSED`` (409) when it is not open."""
    async with ctx.ledger.transaction() as tx:
        order = await _lock(tx, order_id)
        if OrderStatus(order.status) not in OPEN:
            paid = OrderStatus(order.status).paid
            raise Conflict(f"the order is {order.status}, not open",
                           code="ORDER_ALREADY_PAID" if paid else "ORDER_CLOSED")  # fmt: skip
        tx.event(order, "operator.close", actor.audit(), now=utc(ctx.clock()))
    await payments.close_unpaid(ctx, order, source=SOURCE)
    return await order_detail(ctx, order_id)


async def resolve_review(ctx: ServiceContext, order_id: int, note: str, *, actor: Operator) -> dict[str, Any]:
    """Clear the order's needs-review flag with a note (finance), in one transaction with its event.
    ``ORDER_NOT_FLAGGED`` (409) when there is nothing to resolve."""
    now = ctx.clock()
    async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
        order = await _lock(tx, order_id)
        if not order.needs_review:
            raise Conflict("the order is not flagged for review", code="ORDER_NOT_FLAGGED")
        await db.execute(update(Order).where(Order.id == order.id, Order.needs_review.is_(True))
                         .values(needs_review=False, review_reason="", updated_at=utc(now)))  # fmt: skip
        tx.event(order, "operator.review_resolve", {**actor.audit(), "reason": order.review_reason, "note": note},
                 now=utc(now))  # fmt: skip
    return await order_detail(ctx, order_id)


async def rerun_reconciliation(ctx: ServiceContext, day: date, *, actor: Operator) -> dict[str, Any]:
    """Reconcile a past Beijing day again (finance), in the request; the new run with its
    discrepancies, in the audit trail. ``INVALID_REQUEST`` (400) for a day WeChat has no bill of."""
    report = await reconcile.run_reconciliation(ctx, day)
    async with ctx.sessions.begin() as db:
        audit.record(db, actor, "reconciliation.run", f"reconciliation:{report.run_id}",
                     {"date": day.isoformat(), "unresolved": report.unresolved}, now=ctx.clock())  # fmt: skip
    return await reconcile.get_run(ctx, report.run_id)


async def resend_refund(ctx: ServiceContext, refund_id: int, *, actor: Operator) -> dict[str, Any]:
    """Re-send a refund WeChat has not acknowledged (same out_refund_no: WeChat refunds once), or
    ask WeChat about an acknowledged one (support). ``REFUND_SETTLED`` (409) once it is final."""
    async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
        found = await db.get(Refund, refund_id)
        if found is None:
            raise NotFound("no such refund", code="REFUND_NOT_FOUND")
        order = await _lock(tx, found.order_id)
        refund = await repo.lock_refund(db, refund_id)
        if refund is None:
            raise NotFound("no such refund", code="REFUND_NOT_FOUND")
        if refund.status != RefundStatus.PROCESSING:
            raise Conflict(f"the refund is {refund.status} already", code="REFUND_SETTLED")
        tx.event(order, "operator.resend", {**actor.audit(), "out_refund_no": refund.out_refund_no,
                                            "accepted": refund.accepted}, now=utc(ctx.clock()))  # fmt: skip
    return refund_view(await refunds.sync(ctx, refund))
