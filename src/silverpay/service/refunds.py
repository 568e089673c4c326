"""Refunds: reserve the amount under the order's row lock, ask WeChat outside any transaction, then
settle from WeChat's answer, a refund notification or a refund query — exactly once."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.beijing import format_beijing
from silverpay.clock import utc
from silverpay.domain.operators import Operator
from silverpay.domain.orders import REFUNDABLE, OrderStatus
from silverpay.domain.refunds import RefundStatus, check_refund, status_after_refunds
from silverpay.errors import Conflict, NotFound, UpstreamError, UpstreamRejected, UpstreamUnavailable
from silverpay.service.context import ServiceContext
from silverpay.service.payments import bounded
from silverpay.store import repo
from silverpay.store.claims import claim, release
from silverpay.store.ledger import CoreLedger, LedgerTx, OrderRow
from silverpay.store.models import Order, Refund
from silverpay.wechat.gateway import Delivery, RefundRequest, RefundResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefundCreated:
    status_code: int
    body: dict[str, Any]


def refund_view(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "order_id": refund.order_id,
        "out_refund_no": refund.out_refund_no,
        "out_trade_no": refund.out_trade_no,
        "surplus": refund.surplus,
        "amount_fen": refund.amount_fen,
        "reason": refund.reason,
        "status": refund.status,
        "accepted": refund.accepted,
        "refund_id": refund.refund_id,
        "created_at": refund.created_at.isoformat(),
        "succeeded_at": refund.succeeded_at.isoformat() if refund.succeeded_at else None,
    }


def delivery_detail(delivery: Delivery) -> dict[str, str]:
    return {"notification_id": delivery.notification_id, "delivery_nonce": delivery.nonce}


def new_out_refund_no(now: float) -> str:
    return "RF" + format_beijing(now) + secrets.token_hex(6)


def _hash(order_id: int, amount_fen: int, reason: str) -> str:
    return hashlib.sha256(json.dumps([order_id, amount_fen, reason]).encode()).hexdigest()


def _replay(refund: Refund, request_hash: str) -> RefundCreated:
    if refund.request_hash != request_hash:
        raise Conflict("Idempotency-Key was already used with a different request", code="IDEMPOTENCY_KEY_REUSED")
    return RefundCreated(201, refund_view(refund))


async def create_refund(
    ctx: ServiceContext,
    order_id: int,
    amount_fen: int,
    reason: str,
    idempotency_key: str | None,
    actor: Operator | None = None,
) -> RefundCreated:
    """Reserve and submit a refund; ``actor`` (who asked) is an ``operator.refund`` event of the order,
    written with the refund."""
    request_hash = _hash(order_id, amount_fen, reason)
    try:
        async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
            order = await tx.lock(order_id)  # serialises every refund of this order
            if order is None:
                raise NotFound("no such order", code="ORDER_NOT_FOUND")
            # Under the lock: a concurrent twin with the same key has committed by now, or will wait for us.
            if idempotency_key and (existing := await repo.refund_by_key(db, idempotency_key)):
                return _replay(existing, request_hash)
            if OrderStatus(order.status) not in REFUNDABLE:
                raise Conflict(f"an order in status {order.status} cannot be refunded", code="ORDER_NOT_REFUNDABLE")
            refunds = [r for r in await repo.refunds_of(db, order.id) if not r.surplus]  # of the order's payment
            reserved = sum(r.amount_fen for r in refunds if r.status != RefundStatus.CLOSED)
            check_refund(order.amount_fen, reserved, len(refunds), amount_fen)
            now = ctx.clock()
            refund = Refund(
                order_id=order.id, out_trade_no=order.out_trade_no, surplus=False,
                out_refund_no=new_out_refund_no(now), amount_fen=amount_fen, reason=reason,
                status=RefundStatus.PROCESSING.value, accepted=False, request_key=idempotency_key,
                request_hash=request_hash, created_at=utc(now), updated_at=utc(now),
                next_check_at=utc(now + ctx.next_check_delay(0)), check_attempts=0,
            )  # fmt: skip
            db.add(refund)
            await db.flush()
            tx.event(order, "refund.created", {"out_refund_no": refund.out_refund_no, "amount_fen": amount_fen},
                     now=utc(now))  # fmt: skip
            if actor is not None:
                action = {**actor.audit(), "out_refund_no": refund.out_refund_no, "amount_fen": amount_fen,
                          "reason": reason}  # fmt: skip
                tx.event(order, "operator.refund", action, now=utc(now))
    except IntegrityError:
        if not idempotency_key:
            raise
        return await _replay_twin(ctx, idempotency_key, request_hash)
    return RefundCreated(201, refund_view(await submit(ctx, refund.id)))


async def _replay_twin(ctx: ServiceContext, idempotency_key: str, request_hash: str) -> RefundCreated:
    async with ctx.sessions() as db:  # a concurrent request with the same key committed first
        existing = await repo.refund_by_key(db, idempotency_key)
    if existing is None:
        raise Conflict("concurrent request with the same Idempotency-Key", code="IDEMPOTENCY_KEY_IN_USE")
    return _replay(existing, request_hash)


async def submit(ctx: ServiceContext, refund_id: int) -> Refund:
    """Send (or re-send: same out_refund_no, so WeChat refunds once) a refund request."""
    async with ctx.sessions() as db:
        refund = await db.get(Refund, refund_id)
        order = await db.get(Order, refund.order_id) if refund else None
    if refund is None or order is None:
        raise NotFound("no such refund", code="REFUND_NOT_FOUND")
    request = RefundRequest(refund.out_trade_no, refund.out_refund_no, order.amount_fen, refund.amount_fen,
                            refund.reason, ctx.refund_notify_url)  # fmt: skip
    try:
        result = await ctx.pay.refund(request)
    except UpstreamUnavailable as error:
        # Unknown outcome: the amount stays reserved and the sweeper asks again with the same number.
        log.warning("refund submit unknown out_trade_no=%s out_refund_no=%s: %s", order.out_trade_no,
                    refund.out_refund_no, error.message)  # fmt: skip
        async with ctx.ledger.transaction() as tx:
            tx.event(order, "wechat.refund", {"out_refund_no": refund.out_refund_no, "outcome": "unknown",
                                              "message": error.message}, now=utc(ctx.clock()))  # fmt: skip
        return refund
    except UpstreamRejected as error:
        log.warning("refund refused out_trade_no=%s out_refund_no=%s: %s", order.out_trade_no,
                    refund.out_refund_no, error.message)  # fmt: skip
        result = RefundResult(refund.out_refund_no, refund.out_trade_no, "", RefundStatus.CLOSED, refund.amount_fen)
        return await settle(ctx, result, source="refund-refused", detail=error.message) or refund
    return await settle(ctx, result, source="refund") or refund


async def settle(ctx: ServiceContext, result: RefundResult, *, source: str, detail: str = "",
                 delivery: Delivery | None = None) -> Refund | None:  # fmt: skip
    """Apply WeChat's view of a refund, once. ``delivery`` (a v3 notification) is refused if it was
    accepted before: None then."""
    now = ctx.clock()
    async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
        found = await repo.refund_by_out_refund_no(db, result.out_refund_no)
        if found is None:
            raise NotFound("no such refund", code="REFUND_NOT_FOUND")
        order = await tx.lock(found.order_id)  # order first, then refund: one lock order everywhere
        refund = await repo.lock_refund(db, found.id)
        if order is None or refund is None:
            raise NotFound("no such refund", code="REFUND_NOT_FOUND")
        record = {"out_refund_no": refund.out_refund_no, "refund_status": result.status.value,
                  "refund_fen": result.refund_fen, **({"detail": detail} if detail else {})}  # fmt: skip
        if delivery is not None:
            record |= delivery_detail(delivery)
            if not await tx.first_delivery(delivery.key, order.id, now=utc(now)):
                log.warning("replayed refund notification refused out_refund_no=%s", result.out_refund_no)
                tx.event(order, f"wechat.{source}", {**record, "outcome": "replayed"}, now=utc(now))
                return None
        outcome = await apply_refund(db, tx, order, refund, result, now=now)
        tx.event(order, f"wechat.{source}", {**record, "outcome": outcome}, now=utc(now))
        return refund


async def apply_refund(
    db: AsyncSession, tx: LedgerTx, order: OrderRow, refund: Refund, result: RefundResult, *, now: float
) -> str:
    """Apply WeChat's view of a refund to a LOCKED refund (and its locked order)."""
    new = result.status
    current = RefundStatus(refund.status)
    if result.refund_fen != refund.amount_fen:
        reason = f"refund {refund.out_refund_no}: WeChat reports {result.refund_fen} fen, asked {refund.amount_fen}"
        await tx.flag(order, reason, now=utc(now))
        return "flagged"
    if current.final:
        if new is not current and new is not RefundStatus.PROCESSING:
            await tx.flag(order, f"refund {refund.out_refund_no} was {current} and now {new}", now=utc(now))
            return "flagged"
        return "duplicate"
    refund.accepted = True
    refund.refund_id = result.refund_id or refund.refund_id
    refund.updated_at = utc(now)
    if new is RefundStatus.PROCESSING or new is current:
        return "pending"
    refund.status = new.value
    change = {"out_refund_no": refund.out_refund_no, "from": current.value, "to": new.value,
              "amount_fen": refund.amount_fen, "surplus": refund.surplus}  # fmt: skip
    tx.event(order, "refund.status", change, now=utc(now))
    if new.final:
        refund.next_check_at = None
    if new is RefundStatus.SUCCESS:
        refund.succeeded_at = utc(result.succeeded_at or now)
        await db.flush()
        if refund.surplus:  # a payment the order never took: its status does not move
            return new.value.lower()
        refunds = await repo.refunds_of(db, order.id)
        refunded = sum(r.amount_fen for r in refunds if r.status == RefundStatus.SUCCESS and not r.surplus)
        target = status_after_refunds(order.amount_fen, refunded)
        if target.value != order.status:
            await tx.move(order, target, now=utc(now), source="refund")
    if new is RefundStatus.ABNORMAL:
        await tx.flag(order, f"refund {refund.out_refund_no} needs manual handling ({new})", now=utc(now))
    return new.value.lower()


async def sync(ctx: ServiceContext, refund: Refund) -> Refund:
    """Ask WeChat (refundquery) about an accepted refund, or re-send one it never acknowledged."""
    if not refund.accepted:
        return await submit(ctx, refund.id)
    result = await ctx.pay.refund_query(refund.out_refund_no)
    return await settle(ctx, result, source="refund_query") or refund


async def follow_up(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    """One pass over refunds WeChat has not settled: re-send unacknowledged ones, query accepted
    ones, each due again on the backoff schedule. Returns how many were claimed."""
    now = ctx.clock()
    due = [Refund.status == RefundStatus.PROCESSING.value, Refund.next_check_at <= utc(now)]
    ids = await claim(ctx.sessions, Refund, due, now=now, limit=limit, order_by=Refund.next_check_at)
    await bounded([_follow_up_one(ctx, refund_id) for refund_id in ids], concurrency)
    return len(ids)


async def _follow_up_one(ctx: ServiceContext, refund_id: int) -> None:
    async with ctx.sessions() as db:
        refund = await db.get(Refund, refund_id)
    if refund is None:
        return
    try:
        refund = await sync(ctx, refund)
    except UpstreamError as error:
        log.warning("refund follow-up of %s deferred: %s", refund.out_refund_no, error.message)
    done = RefundStatus(refund.status) is not RefundStatus.PROCESSING
    delay = None if done else ctx.next_check_delay(refund.check_attempts + 1)
    await release(ctx.sessions, Refund, refund_id, now=ctx.clock(), delay_s=delay)
