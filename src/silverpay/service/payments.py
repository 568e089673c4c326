"""Paying, confirming, cancelling and expiring orders, and settling them from what WeChat says.

The rule everywhere: call WeChat outside any database transaction, then apply its answer in one
short ledger transaction that locks the order row and moves it with a guarded UPDATE. Whatever
arrives first (notification, confirm, cancel, the sweeper) settles the order; the others find it
settled and record themselves as duplicates. What an answer does is :func:`domain.orders.decide`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from silverpay.clock import utc
from silverpay.domain.orders import OPEN, Action, OrderStatus, decide
from silverpay.errors import (
    Conflict,
    NotFound,
    SilverpayError,
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    UpstreamError,
)
from silverpay.service.context import ServiceContext
from silverpay.service.orders import owned_order
from silverpay.service.views import order_view
from silverpay.store import repo
from silverpay.store.ledger import Due, LedgerTx, OrderRow
from silverpay.wechat.gateway import PayParams, PrepayRequest, TradeStatus

log = logging.getLogger(__name__)

PREPAY_REUSE_MARGIN_S = 600  # hand out a stored prepay only if it stays valid well past the user's tap
MIN_PAYABLE_S = 5 * 60 + 30  # WeChat wants time_expire at least 5 minutes ahead (SPEC §2.3)
CLOSE_MIN_AGE_S = 5 * 60  # WeChat ignores closeorder in an order's first 5 minutes (SPEC §2.6)


def trade_detail(trade: TradeStatus) -> dict[str, Any]:
    return {
        "trade_state": trade.state.value,
        "amount_fen": trade.amount_fen,
        "transaction_id": trade.transaction_id,
        "paid_at": trade.paid_at,
    }


async def apply_trade(
    tx: LedgerTx, order: OrderRow, trade: TradeStatus, *, now: float, source: str
) -> tuple[str, OrderRow]:
    """Apply WeChat's view of a trade to a LOCKED order: what happened (for the record), and the row."""
    decision = decide(OrderStatus(order.status), order.amount_fen, order.transaction_id, trade.state,
                      trade.amount_fen, trade.transaction_id)  # fmt: skip
    moved: OrderRow | None = None
    if decision.action is Action.SETTLE:
        paid_at = utc(trade.paid_at if trade.paid_at is not None else now)
        moved = await tx.move(order, OrderStatus.PAID, now=utc(now), source=source,
                              transaction_id=trade.transaction_id or None, paid_at=paid_at)  # fmt: skip
    elif decision.action is Action.CLOSE:
        moved = await tx.move(order, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
    elif decision.action is Action.FLAG:
        flagged = await tx.flag(order, decision.reason, now=utc(now))  # a retried notification flags once
        if flagged is not None:
            log.warning("order flagged for review out_trade_no=%s: %s", order.out_trade_no, decision.reason)
        return Action.FLAG.value, flagged or order
    else:
        return decision.action.value, order
    return (decision.action.value, moved) if moved is not None else (Action.DUPLICATE.value, order)


async def record_failure(ctx: ServiceContext, order: OrderRow, kind: str, error: UpstreamError) -> None:
    log.warning("%s failed out_trade_no=%s code=%s: %s", kind, order.out_trade_no, error.code, error.message)
    async with ctx.ledger.transaction() as tx:
        tx.event(order, kind, {"outcome": "error", "code": error.code, "message": error.message},
                 now=utc(ctx.clock()))  # fmt: skip


async def sync_from_wechat(ctx: ServiceContext, order: OrderRow, *, source: str) -> OrderRow:
    """Ask WeChat (orderquery) and settle the order from its answer."""
    try:
        trade = await ctx.pay.query(order.out_trade_no)
    except TradeNotFound:
        async with ctx.ledger.transaction() as tx:
            tx.event(order, "wechat.query", {"source": source, "outcome": "not found"}, now=utc(ctx.clock()))
        return order
    except UpstreamError as error:
        await record_failure(ctx, order, "wechat.query", error)
        raise
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        outcome, settled = await apply_trade(tx, locked, trade, now=now, source=source)
        tx.event(locked, "wechat.query", {"source": source, **trade_detail(trade), "outcome": outcome}, now=utc(now))
    return settled


async def _lock(tx: LedgerTx, order_id: int) -> OrderRow:
    order = await tx.lock(order_id)
    if order is None:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
    return order


def _refuse_if_final(order: OrderRow) -> None:
    if OrderStatus(order.status).paid:
        raise Conflict("the order is already paid", code="ORDER_ALREADY_PAID")
    if order.status == OrderStatus.CLOSED:
        raise Conflict("the order is closed", code="ORDER_CLOSED")


async def pay(ctx: ServiceContext, user_id: int, order_id: int) -> PayParams:
    order = await owned_order(ctx, user_id, order_id)
    now = ctx.clock()
    _refuse_if_final(order)
    if (
        order.prepay_id
        and order.prepay_expires_at
        and order.prepay_expires_at.timestamp() > now + PREPAY_REUSE_MARGIN_S
    ):
        return ctx.pay.pay_params(order.prepay_id)
    if order.expires_at.timestamp() - now < MIN_PAYABLE_S:
        raise Conflict("the order has expired; create a new one", code="ORDER_EXPIRED")
    async with ctx.sessions() as db:
        user = await repo.get_user(db, order.user_id)
    if user is None:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
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
        prepay = await ctx.pay.prepay(request)
    except (TradeAlreadyPaid, TradeClosed) as answer:
        # WeChat knows better than we do: settle from its record instead of failing.
        await record_failure(ctx, order, "wechat.prepay", answer)
        _refuse_if_final(await sync_from_wechat(ctx, order, source="pay"))
        raise Conflict("WeChat reports this order as settled", code=answer.code) from None
    except UpstreamError as error:
        await record_failure(ctx, order, "wechat.prepay", error)
        raise
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        tx.event(locked, "wechat.prepay", {"outcome": "ok", "prepay_id": prepay.prepay_id}, now=utc(now))
        moved = await tx.move(
            locked, OrderStatus.PAYING, now=utc(now), source="pay",
            prepay_id=prepay.prepay_id, prepay_expires_at=utc(prepay.expires_at),
            wechat_created_at=locked.wechat_created_at or utc(now),
            next_check_at=locked.next_check_at or utc(now + ctx.next_check_delay(0)),  # the sweeper's first look
        )  # fmt: skip
    if moved is None:  # settled or closed while we were asking WeChat
        _refuse_if_final(locked)
    return ctx.pay.pay_params(prepay.prepay_id)


async def confirm(ctx: ServiceContext, user_id: int, order_id: int) -> dict[str, Any]:
    """After ``wx.requestPayment`` says ok: trust WeChat's record, not the mini-program."""
    order = await owned_order(ctx, user_id, order_id)
    if OrderStatus(order.status).terminal or order.status == OrderStatus.CREATED:
        return order_view(order)  # settled already, or never reached WeChat
    return order_view(await sync_from_wechat(ctx, order, source="confirm"))


async def _close_unprepaid(ctx: ServiceContext, order_id: int, *, source: str) -> OrderRow:
    """Close an order that never reached WeChat, here only; whatever a concurrent pay made of it otherwise."""
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order_id)
        if locked.status != OrderStatus.CREATED:
            return locked
        moved = await tx.move(locked, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
        return moved or locked


async def cancel(ctx: ServiceContext, user_id: int, order_id: int) -> dict[str, Any]:
    order = await owned_order(ctx, user_id, order_id)
    if order.status == OrderStatus.CREATED:  # no trade at WeChat yet: close here only
        order = await _close_unprepaid(ctx, order.id, source="cancel")
    if order.status == OrderStatus.CLOSED:
        return order_view(order)
    if OrderStatus(order.status).paid:
        raise Conflict("the order is already paid", code="ORDER_ALREADY_PAID")
    return order_view(await close_order(ctx, order, source="cancel"))


async def close_order(ctx: ServiceContext, order: OrderRow, *, source: str) -> OrderRow:
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
        await ctx.pay.close(order.out_trade_no)
        outcome = "closed"
    except TradeAlreadyPaid:
        return await sync_from_wechat(ctx, order, source=source)
    except (TradeClosed, TradeNotFound) as answer:
        outcome = answer.upstream_code  # closed or never created there: close here too
    except UpstreamError as error:
        await record_failure(ctx, order, "wechat.close", error)
        raise
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        tx.event(locked, "wechat.close", {"outcome": outcome, "source": source}, now=utc(now))
        if OrderStatus(locked.status) not in OPEN:
            return locked
        moved = await tx.move(locked, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
        return moved or locked


async def expire(ctx: ServiceContext, order: OrderRow) -> OrderRow:
    """An unpaid order past its time: closed here if it never reached WeChat, else at WeChat first."""
    if order.status == OrderStatus.CREATED:
        order = await _close_unprepaid(ctx, order.id, source="expiry")
        if order.status != OrderStatus.PAYING:
            return order
    return await close_order(ctx, order, source="expiry")


# Background work -------------------------------------------------------------------------------

RETRY_EXPIRY_S = 30  # a close that WeChat could not confirm is tried again after this
SETTLE_BATCH = 100  # answers applied per transaction by the sweeper

T = TypeVar("T")


async def bounded(jobs: Sequence[Awaitable[T]], limit: int) -> list[T | UpstreamError]:
    """Run ``jobs`` at most ``limit`` at a time; an unknown outcome comes back in place of its answer."""
    slots = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T | UpstreamError:
        async with slots:
            try:
                return await job
            except UpstreamError as error:
                return error

    return await asyncio.gather(*(one(job) for job in jobs))


Answer = TradeStatus | UpstreamError | None  # WeChat's record, an unknown outcome, or no such trade


async def _ask(ctx: ServiceContext, out_trade_no: str) -> TradeStatus | None:
    try:
        return await ctx.pay.query(out_trade_no)
    except TradeNotFound:
        return None


async def sweep(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    """One sweeper pass: claim up to ``limit`` PAYING orders due a check, ask WeChat about them
    (``concurrency`` at a time), and settle the answers in batched transactions while the next
    queries are in flight, so WeChat's answers, not the database, set the pace. Unknown outcomes
    are recorded and asked again later, never treated as failures. Returns how many were claimed."""
    due = await ctx.ledger.claim(Due.SWEEP, now=ctx.clock(), limit=limit)
    if not due:
        return 0
    answered: asyncio.Queue[tuple[OrderRow, Answer]] = asyncio.Queue()

    async def ask(order: OrderRow) -> None:
        answer: Answer
        try:
            answer = await _ask(ctx, order.out_trade_no)
        except UpstreamError as error:
            answer = error
        answered.put_nowait((order, answer))

    asking = asyncio.create_task(bounded([ask(order) for order in due], concurrency))
    settled = 0
    try:
        while settled < len(due):
            batch = [await answered.get()]  # then whatever else has arrived meanwhile
            while not answered.empty() and len(batch) < SETTLE_BATCH:
                batch.append(answered.get_nowait())
            await _settle_answers(ctx, batch)
            settled += len(batch)
    finally:
        await asking
    return len(due)


async def _settle_answers(
    ctx: ServiceContext, answers: list[tuple[OrderRow, TradeStatus | UpstreamError | None]]
) -> None:
    """WeChat's answers about claimed orders, applied and the orders released, in one transaction."""
    now = ctx.clock()
    releases: list[tuple[int, datetime | None]] = []
    async with ctx.ledger.transaction() as tx:
        locked = {order.id: order for order in await tx.lock_many([claimed.id for claimed, _ in answers])}
        for claimed, answer in answers:
            order = locked.get(claimed.id)
            if order is None:
                continue
            detail: dict[str, Any] = {"source": "sweeper"}
            if isinstance(answer, TradeStatus):
                outcome, order = await apply_trade(tx, order, answer, now=now, source="sweeper")
                detail |= {**trade_detail(answer), "outcome": outcome}
            elif answer is None:
                detail["outcome"] = "not found"
            else:
                log.warning("wechat.query failed out_trade_no=%s code=%s: %s", order.out_trade_no, answer.code,
                            answer.message)  # fmt: skip
                detail |= {"outcome": "error", "code": answer.code, "message": answer.message}
            tx.event(order, "wechat.query", detail, now=utc(now))
            done = OrderStatus(order.status).terminal
            releases.append((order.id, None if done else utc(now + ctx.next_check_delay(claimed.check_attempts + 1))))
        await tx.release(releases)


async def expire_due(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    """One expiry pass: close unpaid orders past their time (at WeChat first). Returns how many
    were claimed; one WeChat could not close is held back for :data:`RETRY_EXPIRY_S`."""
    due = await ctx.ledger.claim(Due.EXPIRY, now=ctx.clock(), limit=limit)
    if not due:
        return 0

    async def one(order: OrderRow) -> bool:
        try:
            await expire(ctx, order)
        except SilverpayError:  # logged and recorded where it happened
            return False
        return True

    closed = await bounded([one(order) for order in due], concurrency)
    now = utc(ctx.clock())
    async with ctx.ledger.transaction() as tx:
        await tx.release([(o.id, None) for o, ok in zip(due, closed, strict=True) if ok is True], attempts_increment=0)
        held = [(o.id, None) for o, ok in zip(due, closed, strict=True) if ok is not True]
        await tx.release(held, attempts_increment=0, hold_until=now + timedelta(seconds=RETRY_EXPIRY_S))
    return len(due)
