"""Queries and guarded writes. Every function takes the caller's session: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.store.models import IdempotencyRecord, Order, OrderEvent, Product, Refund, RejectedNotification, User

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


async def orders_of_user(session: AsyncSession, user_id: int, *, limit: int = 100) -> Sequence[Order]:
    query = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def rejections_claiming(
    session: AsyncSession, out_trade_no: str, *, limit: int = 50
) -> Sequence[RejectedNotification]:
    """The latest rejected notifications that named this number (not attached to the order: anyone can name one)."""
    query = (
        select(RejectedNotification)
        .where(RejectedNotification.claimed == out_trade_no)
        .order_by(RejectedNotification.minute.desc(), RejectedNotification.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


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
