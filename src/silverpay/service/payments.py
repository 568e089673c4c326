"""Paying, confirming, cancelling and expiring orders, and settling them from what WeChat says.

The rule everywhere: call WeChat outside any database transaction, then apply its answer in one
short ledger transaction that locks the order row and moves it with a guarded UPDATE. Whatever
arrives first (notification, confirm, cancel, the sweeper) settles the order; the others find it
settled and record themselves as duplicates. What an answer does is :func:`domain.orders.decide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from silverpay.clock import utc
from silverpay.domain.orders import OPEN, Action, OrderStatus, Verdict, decide, verdict_for
from silverpay.errors import (
    Conflict,
    NotFound,
    SilverpayError,
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    TradeParamsDiffer,
    UpstreamError,
)
from silverpay.service.context import ServiceContext
from silverpay.service.orders import new_out_trade_no, owned_order
from silverpay.service.views import order_view
from silverpay.store import repo
from silverpay.store.claims import claim
from silverpay.store.ledger import Due, LedgerTx, OrderRow
from silverpay.store.models import PaymentAttempt
from silverpay.wechat.gateway import PayParams, Prepay, PrepayRequest, TradeStatus

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
    """Apply WeChat's view of a trade to a LOCKED order: what happened (for the record), and the row.
    The trade may be an earlier attempt of the order (another out_trade_no)."""
    decision = decide(OrderStatus(order.status), order.amount_fen, order.transaction_id, trade.state,
                      trade.amount_fen, trade.transaction_id,
                      other_attempt=trade.out_trade_no != order.out_trade_no)  # fmt: skip
    moved: OrderRow | None = None
    if decision.action is Action.SETTLE:
        values: dict[str, Any] = {"transaction_id": trade.transaction_id or None,
                                  "paid_at": utc(trade.paid_at if trade.paid_at is not None else now)}  # fmt: skip
        if trade.out_trade_no != order.out_trade_no:
            # An earlier attempt's payment sheet was used: its number becomes the order's, and the
            # attempt that replaced it is closed at WeChat so it cannot be paid as well.
            values["out_trade_no"] = trade.out_trade_no
            await tx.schedule_close(order.out_trade_no, at=close_allowed_at(order, now))
            await tx.schedule_close(trade.out_trade_no, at=None)  # it paid: nothing to close
        moved = await tx.move(order, OrderStatus.PAID, now=utc(now), source=source, **values)
    elif decision.action is Action.CLOSE:
        moved = await tx.move(order, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
    elif decision.action is Action.REFUND_SURPLUS:
        if not await tx.add_surplus_refund(order, trade.out_trade_no, trade.amount_fen, decision.reason, now=utc(now)):
            return Action.DUPLICATE.value, order
        log.warning("surplus payment refunded out_trade_no=%s: %s", trade.out_trade_no, decision.reason)
        tx.event(order, "refund.surplus", {"out_trade_no": trade.out_trade_no, "amount_fen": trade.amount_fen,
                                           "transaction_id": trade.transaction_id, "reason": decision.reason},
                 now=utc(now))  # fmt: skip
        return decision.action.value, order
    elif decision.action is Action.FLAG:
        flagged = await tx.flag(order, decision.reason, now=utc(now))  # a retried notification flags once
        if flagged is not None:
            log.warning("order flagged for review out_trade_no=%s: %s", order.out_trade_no, decision.reason)
        return Action.FLAG.value, flagged or order
    else:
        return decision.action.value, order
    return (decision.action.value, moved) if moved is not None else (Action.DUPLICATE.value, order)


def wechat_can_close(order: OrderRow, now: float) -> bool:
    """WeChat answers SUCCESS to a close in a trade's first 5 minutes, yet keeps it payable (SPEC §2.6)."""
    return order.wechat_created_at is None or now - order.wechat_created_at.timestamp() >= CLOSE_MIN_AGE_S


def close_allowed_at(order: OrderRow, now: float) -> datetime:
    """When WeChat will honour a close of the order's current number (5 minutes after its prepay)."""
    created = order.wechat_created_at.timestamp() if order.wechat_created_at else now
    return utc(max(now, created + CLOSE_MIN_AGE_S))


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
    reusable = order.prepay_expires_at and order.prepay_expires_at.timestamp() > now + PREPAY_REUSE_MARGIN_S
    if order.prepay_id and reusable:
        return ctx.pay.pay_params(order.prepay_id)
    if order.expires_at.timestamp() - now < MIN_PAYABLE_S:
        raise Conflict("the order has expired; create a new one", code="ORDER_EXPIRED")
    async with ctx.sessions() as db:
        user = await repo.get_user(db, order.user_id)
    if user is None:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
    try:
        prepay = await _prepay(ctx, order, user.openid)
    except TradeParamsDiffer:
        # WeChat holds this number with other parameters (a process with another NOTIFY_URL, say).
        order = await _new_attempt(ctx, order)
        prepay = await _prepay(ctx, order, user.openid)  # a number WeChat has never seen
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        if locked.out_trade_no != order.out_trade_no:  # a concurrent pay moved it to a new number meanwhile
            raise Conflict("the order moved to a new payment attempt; pay again", code="PAYMENT_RETRY")
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


async def _prepay(ctx: ServiceContext, order: OrderRow, openid: str) -> Prepay:
    request = PrepayRequest(
        out_trade_no=order.out_trade_no,
        description=order.description,
        amount_fen=order.amount_fen,
        openid=openid,
        notify_url=ctx.notify_url,
        expires_at=order.expires_at.timestamp(),
        client_ip=order.client_ip,
    )
    try:
        return await ctx.pay.prepay(request)
    except (TradeAlreadyPaid, TradeClosed) as answer:
        # WeChat knows better than we do: settle from its record instead of failing.
        await record_failure(ctx, order, "wechat.prepay", answer)
        _refuse_if_final(await sync_from_wechat(ctx, order, source="pay"))
        raise Conflict("WeChat reports this order as settled", code=answer.code) from None
    except UpstreamError as error:
        await record_failure(ctx, order, "wechat.prepay", error)
        raise


async def _new_attempt(ctx: ServiceContext, order: OrderRow) -> OrderRow:
    """The order's number is taken at WeChat with other parameters: settle from that trade if it
    was paid or closed; otherwise give the order a new number, the old one closed at WeChat as soon
    as WeChat allows (a payment of it still settles the order, or is refunded if another did)."""
    _refuse_if_final(await sync_from_wechat(ctx, order, source="pay"))
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        _refuse_if_final(locked)
        if locked.out_trade_no != order.out_trade_no:
            return locked  # a concurrent pay gave it a new number already
        number = new_out_trade_no(now)
        moved = await tx.replace_number(locked, number, now=utc(now), close_old_at=close_allowed_at(locked, now))
        if moved is None:
            raise Conflict("the order changed meanwhile; pay again", code="PAYMENT_RETRY")
        log.warning("new payment attempt out_trade_no=%s replaces %s (OUT_TRADE_NO_USED)", number, order.out_trade_no)
        tx.event(moved, "payment.attempt", {"out_trade_no": number, "replaces": order.out_trade_no,
                                            "reason": "OUT_TRADE_NO_USED"}, now=utc(now))  # fmt: skip
        return moved


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
    """The shopper cancels: an unpaid order is CLOSED at once (unless WeChat reports it paid, which
    settles it); what WeChat cannot close yet is closed there by the worker later."""
    order = await owned_order(ctx, user_id, order_id)
    if order.status == OrderStatus.CREATED:  # no trade at WeChat yet: close here only
        order = await _close_unprepaid(ctx, order.id, source="cancel")
    if order.status == OrderStatus.CLOSED:
        return order_view(order)
    if OrderStatus(order.status).paid:
        raise Conflict("the order is already paid", code="ORDER_ALREADY_PAID")
    return order_view(await close_order(ctx, order, source="cancel"))


async def close_order(ctx: ServiceContext, order: OrderRow, *, source: str) -> OrderRow:
    """Close an unpaid order: at WeChat first, then here; a payment WeChat reports settles it instead.

    When WeChat cannot close it now — in a trade's first 5 minutes it answers SUCCESS but keeps the
    trade payable, or it does not answer — the order is closed here at once (no new payment is
    issued for it) and the worker closes it at WeChat as soon as WeChat allows; a payment made
    meanwhile from a payment sheet already open is refunded automatically."""
    now = ctx.clock()
    if not wechat_can_close(order, now):
        with contextlib.suppress(UpstreamError):  # unknown: close here anyway, the worker settles the rest
            order = await sync_from_wechat(ctx, order, source=source)  # paid or closed already?
        if OrderStatus(order.status).terminal:
            return order
        return await _close_here_first(ctx, order, source=source, close_at=close_allowed_at(order, now))
    try:
        await ctx.pay.close(order.out_trade_no)
        outcome = "closed"
    except TradeAlreadyPaid:
        return await sync_from_wechat(ctx, order, source=source)
    except (TradeClosed, TradeNotFound) as answer:
        outcome = answer.upstream_code  # closed or never created there: close here too
    except UpstreamError as error:
        await record_failure(ctx, order, "wechat.close", error)
        return await _close_here_first(ctx, order, source=source, close_at=utc(now + RETRY_CLOSE_S))
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        tx.event(locked, "wechat.close", {"outcome": outcome, "source": source}, now=utc(now))
        if OrderStatus(locked.status) not in OPEN:
            return locked
        moved = await tx.move(locked, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
        return moved or locked


async def _close_here_first(ctx: ServiceContext, order: OrderRow, *, source: str, close_at: datetime) -> OrderRow:
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        locked = await _lock(tx, order.id)
        if OrderStatus(locked.status) not in OPEN:
            return locked
        moved = await tx.move(locked, OrderStatus.CLOSED, now=utc(now), source=source, closed_at=utc(now))
        await tx.schedule_close(locked.out_trade_no, at=close_at)
        tx.event(locked, "wechat.close", {"outcome": "scheduled", "source": source, "close_at": close_at.isoformat()},
                 now=utc(now))  # fmt: skip
        return moved or locked


async def expire(ctx: ServiceContext, order: OrderRow) -> OrderRow:
    """An unpaid order past its time: closed here if it never reached WeChat, else as :func:`close_order`."""
    return await close_unpaid(ctx, order, source="expiry")


async def close_unpaid(ctx: ServiceContext, order: OrderRow, *, source: str) -> OrderRow:
    """Close an unpaid order: here only if it never reached WeChat, else as :func:`close_order`."""
    if order.status == OrderStatus.CREATED:
        order = await _close_unprepaid(ctx, order.id, source=source)
        if order.status != OrderStatus.PAYING:
            return order
    return await close_order(ctx, order, source=source)


# Background work -------------------------------------------------------------------------------

RETRY_EXPIRY_S = 30  # a close that WeChat could not confirm is tried again after this
RETRY_CLOSE_S = 30
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


async def close_attempts(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    """One pass over numbers to close at WeChat (a cancelled order's, an attempt that was replaced):
    close, then ask, since a payment sheet open at that moment may still have paid. A payment found
    settles its order or, if the order cannot take it, is refunded. Returns how many were claimed."""
    now = ctx.clock()
    due = [PaymentAttempt.close_at <= utc(now), PaymentAttempt.closed_at.is_(None)]
    ids = await claim(ctx.sessions, PaymentAttempt, due, now=now, limit=limit, order_by=PaymentAttempt.close_at)
    await bounded([_close_attempt(ctx, attempt_id) for attempt_id in ids], concurrency)
    return len(ids)


async def _close_attempt(ctx: ServiceContext, attempt_id: int) -> None:
    async with ctx.sessions() as db:
        attempt = await db.get(PaymentAttempt, attempt_id)
    if attempt is None:
        return
    number = attempt.out_trade_no
    trade: TradeStatus | None = None
    try:
        with contextlib.suppress(TradeAlreadyPaid, TradeClosed, TradeNotFound):
            await ctx.pay.close(number)
        with contextlib.suppress(TradeNotFound):  # never reached WeChat: nothing to close
            trade = await ctx.pay.query(number)
    except UpstreamError as error:
        log.warning("closing %s at WeChat deferred: %s", number, error.message)
        await _release_attempt(ctx, attempt_id, closed=False)
        return
    if trade is not None and verdict_for(trade.state) is Verdict.PENDING:  # still payable: close again later
        await _release_attempt(ctx, attempt_id, closed=False)
        return
    now = ctx.clock()
    async with ctx.ledger.transaction() as tx:
        order = await _lock(tx, attempt.order_id)
        detail: dict[str, Any] = {"source": "close", "out_trade_no": number, "outcome": "closed"}
        if trade is not None and verdict_for(trade.state) is Verdict.PAID:
            outcome, _ = await apply_trade(tx, order, trade, now=now, source="close")
            detail |= {**trade_detail(trade), "outcome": outcome}
        tx.event(order, "wechat.close", detail, now=utc(now))
    await _release_attempt(ctx, attempt_id, closed=True)


async def _release_attempt(ctx: ServiceContext, attempt_id: int, *, closed: bool) -> None:
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        attempt = await db.get(PaymentAttempt, attempt_id, with_for_update=True)
        if attempt is None:
            return
        attempt.lease_until = None
        attempt.check_attempts += 1
        if closed:
            attempt.closed_at = utc(now)
        else:
            attempt.close_at = utc(now + RETRY_CLOSE_S)
