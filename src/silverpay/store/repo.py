"""Queries and guarded writes. Every function takes the caller's session: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.domain.orders import ALLOWED_FROM, OrderStatus
from silverpay.errors import NotFound
from silverpay.store.models import IdempotencyRecord, Order, OrderEvent, Product, Refund, User

# Fields of WeChat messages that must never reach the event log.
REDACTED = frozenset({"sign", "paySign", "session_key", "api_key", "key", "token", "nonce_str", "nonceStr"})


def redact(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if k in REDACTED else v) for k, v in detail.items()}


# Users -----------------------------------------------------------------------------------------


async def upsert_user(
    session: AsyncSession, *, appid: str, openid: str, session_key: str, nickname: str | None,
    avatar_url: str | None, now: datetime,
) -> tuple[User, bool]:  # fmt: skip
    """The user for (appid, openid), created on first login; returns (user, created)."""
    query = select(User).where(User.appid == appid, User.openid == openid)
    user = (await session.execute(query)).scalar_one_or_none()
    created = False
    if user is None:
        user = User(
            appid=appid, openid=openid, nickname=nickname or "", avatar_url=avatar_url or "",
            session_key=session_key, created_at=now, last_login_at=now,
        )  # fmt: skip
        try:
            async with session.begin_nested():
                session.add(user)
            return user, True
        except IntegrityError:  # a concurrent first login of the same user won the insert
            # A locking read sees the winner's committed row even under MySQL's REPEATABLE READ.
            user = (await session.execute(query.with_for_update())).scalar_one()
    user.session_key = session_key
    user.last_login_at = now
    if nickname is not None:
        user.nickname = nickname
    if avatar_url is not None:
        user.avatar_url = avatar_url
    await session.flush()
    return user, created


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


# Products --------------------------------------------------------------------------------------


async def list_products(session: AsyncSession, *, include_inactive: bool = False) -> Sequence[Product]:
    query = select(Product).order_by(Product.id)
    if not include_inactive:
        query = query.where(Product.active.is_(True))
    return (await session.execute(query)).scalars().all()


# Orders ----------------------------------------------------------------------------------------


async def lock_order(session: AsyncSession, order_id: int) -> Order:
    """The order's current row, locked until the transaction ends (SQLite: BEGIN IMMEDIATE already is)."""
    query = select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    order = (await session.execute(query)).scalar_one_or_none()
    if order is None:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
    return order


async def order_by_out_trade_no(session: AsyncSession, out_trade_no: str, *, lock: bool = False) -> Order | None:
    query = select(Order).where(Order.out_trade_no == out_trade_no)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def orders_of_user(session: AsyncSession, user_id: int, *, limit: int = 100) -> Sequence[Order]:
    query = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def transition(
    session: AsyncSession, order: Order, to: OrderStatus, *, now: datetime, source: str, **values: Any
) -> bool:
    """Move ``order`` to ``to`` only if its status in the database allows it: the guard is in the
    UPDATE itself, so of several concurrent callers exactly one wins. Records a status event."""
    allowed = [s.value for s in ALLOWED_FROM[to]]
    if to.terminal:
        values.setdefault("next_check_at", None)  # settled: nothing left for the sweeper to ask
    result = await session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_(allowed))
        .values(status=to.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    before = order.status
    await session.refresh(order)
    if before != to.value:
        add_event(session, order, "status", {"from": before, "to": to.value, "source": source}, now=now)
    return True


async def flag_for_review(session: AsyncSession, order: Order, reason: str, *, now: datetime) -> bool:
    """Flag ``order`` for an operator; False when it already carries this very reason (a retry)."""
    if order.needs_review and order.review_reason == reason[:255]:
        return False
    order.needs_review = True
    order.review_reason = reason[:255]
    order.updated_at = now
    add_event(session, order, "review.flagged", {"reason": reason}, now=now)
    await session.flush()
    return True


def add_event(
    session: AsyncSession, order: Order | None, kind: str, detail: dict[str, Any], *, now: datetime,
    out_trade_no: str = "",
) -> None:  # fmt: skip
    session.add(
        OrderEvent(
            order_id=order.id if order else None,
            out_trade_no=order.out_trade_no if order else out_trade_no[:64],
            kind=kind,
            detail=redact(detail),
            created_at=now,
        )
    )


async def unverified_claims(session: AsyncSession, out_trade_no: str, *, limit: int = 50) -> Sequence[OrderEvent]:
    """The latest rejected messages that named this order (not attached to it: anyone can name one)."""
    query = (
        select(OrderEvent)
        .where(OrderEvent.order_id.is_(None), OrderEvent.out_trade_no == out_trade_no)
        .order_by(OrderEvent.id.desc())
        .limit(limit)
    )
    return list(reversed((await session.execute(query)).scalars().all()))


async def events_of(session: AsyncSession, order_id: int) -> Sequence[OrderEvent]:
    query = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    return (await session.execute(query)).scalars().all()


# Idempotency -----------------------------------------------------------------------------------


async def idempotency_record(session: AsyncSession, user_id: int, key: str) -> IdempotencyRecord | None:
    query = select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    return (await session.execute(query)).scalar_one_or_none()


# Refunds ---------------------------------------------------------------------------------------


async def refunds_of(session: AsyncSession, order_id: int, *, lock: bool = False) -> Sequence[Refund]:
    query = select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalars().all()


async def lock_refund(session: AsyncSession, refund_id: int) -> Refund | None:
    query = select(Refund).where(Refund.id == refund_id).with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def refund_by_out_refund_no(session: AsyncSession, out_refund_no: str) -> Refund | None:
    return (await session.execute(select(Refund).where(Refund.out_refund_no == out_refund_no))).scalar_one_or_none()


async def refund_by_key(session: AsyncSession, key: str) -> Refund | None:
    return (await session.execute(select(Refund).where(Refund.request_key == key))).scalar_one_or_none()
