"""The payments API: orders a merchant's backend creates with its own number and amount (no
catalogue product), then pays, confirms, cancels and refunds through the SAME use cases as the
mini-program and operator APIs (service.payments, service.refunds)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.domain.orders import OrderStatus
from silverpay.errors import Conflict, InvalidRequest, NotFound
from silverpay.service import payments, refunds
from silverpay.service.api_idempotency import Answer
from silverpay.service.api_keys import MerchantKey
from silverpay.service.context import ServiceContext
from silverpay.service.orders import new_out_trade_no, wechat_body
from silverpay.service.views import OrderFields, order_view
from silverpay.store.ledger import CoreLedger
from silverpay.store.models import Order, User
from silverpay.store.models_integration import MerchantPayment
from silverpay.wechat.gateway import PayParams

MAX_METADATA = 20


@dataclass(frozen=True)
class NewPayment:
    merchant_order_no: str
    amount_fen: int
    description: str
    openid: str | None = None
    user_id: int | None = None
    expires_in_s: int | None = None
    metadata: dict[str, str] | None = None

    def digest(self) -> str:
        fields = [self.merchant_order_no, self.amount_fen, self.description, self.openid, self.user_id,
                  self.expires_in_s, sorted((self.metadata or {}).items())]  # fmt: skip
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def payment_view(order: OrderFields, merchant: MerchantPayment | None, user_id: int) -> dict[str, Any]:
    """An order as the payments API (and every public event) shows it."""
    view = order_view(order)
    if merchant is None:  # a mini-program catalogue order, as events show it
        return {"object": "order", **view, "user_id": user_id}
    del view["product_id"], view["quantity"]
    return {"object": "payment", **view, "merchant_order_no": merchant.merchant_order_no,
            "metadata": merchant.meta, "user_id": user_id}  # fmt: skip


async def _user_by_openid(db: AsyncSession, appid: str, openid: str, now: float) -> User:
    """The shopper behind an openid, created if the merchant's backend is the first to name them."""
    query = select(User).where(User.appid == appid, User.openid == openid)
    user = (await db.execute(query)).scalar_one_or_none()
    if user is not None:
        return user
    user = User(appid=appid, openid=openid, nickname="", avatar_url="", session_key="", created_at=utc(now),
                last_login_at=utc(now))  # fmt: skip
    try:
        async with db.begin_nested():
            db.add(user)
        return user
    except IntegrityError:  # a concurrent first mention won the insert
        return (await db.execute(query.with_for_update())).scalar_one()


async def _existing(db: AsyncSession, merchant_order_no: str) -> tuple[Order, MerchantPayment] | None:
    query = select(Order, MerchantPayment).join(MerchantPayment, MerchantPayment.order_id == Order.id)
    row = (await db.execute(query.where(MerchantPayment.merchant_order_no == merchant_order_no))).first()
    return (row[0], row[1]) if row is not None else None


def _replay(found: tuple[Order, MerchantPayment], digest: str) -> Answer:
    order, merchant = found
    if merchant.request_hash != digest:
        raise Conflict("merchant_order_no was already used with a different request", code="MERCHANT_ORDER_NO_USED")
    return Answer(200, payment_view(order, merchant, order.user_id), replayed=True)


async def create_payment(ctx: ServiceContext, key: MerchantKey, new: NewPayment, client_ip: str) -> Answer:
    """201 with the new payment; the same ``merchant_order_no`` with the same request replays it
    (200), with another request is a 409."""
    if (new.openid is None) == (new.user_id is None):
        raise InvalidRequest("give exactly one of openid and user_id")
    if new.metadata and len(new.metadata) > MAX_METADATA:
        raise InvalidRequest(f"metadata holds at most {MAX_METADATA} pairs")
    digest = new.digest()
    try:
        async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
            if found := await _existing(db, new.merchant_order_no):
                return _replay(found, digest)
            now = ctx.clock()
            if new.openid is not None:
                user_id = (await _user_by_openid(db, ctx.appid, new.openid, now)).id
            else:
                if await db.get(User, new.user_id) is None:
                    raise NotFound("no such user", code="USER_NOT_FOUND")
                user_id = int(new.user_id)  # type: ignore[arg-type]  # checked just above
            order = Order(
                out_trade_no=new_out_trade_no(now), user_id=user_id, product_id=None, quantity=1,
                amount_fen=new.amount_fen, description=wechat_body(new.description),
                status=OrderStatus.CREATED.value, client_ip=client_ip,
                expires_at=utc(now + (new.expires_in_s or ctx.order_ttl_s)), needs_review=False, review_reason="",
                created_at=utc(now), updated_at=utc(now),
            )  # fmt: skip
            db.add(order)
            await db.flush()
            merchant = MerchantPayment(order_id=order.id, merchant_order_no=new.merchant_order_no,
                                       meta=dict(new.metadata or {}), request_hash=digest, api_key_id=key.id,
                                       created_at=utc(now))  # fmt: skip
            db.add(merchant)
            await db.flush()  # a concurrent twin with the same number fails here and rolls back whole
            tx.event(order, "status", {"from": None, "to": order.status, "source": "api"}, now=utc(now))
            await tx.add_attempt(order.id, order.out_trade_no, now=utc(now))
            return Answer(201, payment_view(order, merchant, user_id))
    except IntegrityError:
        pass
    async with ctx.sessions() as db:  # the twin committed first: answer as a replay
        found = await _existing(db, new.merchant_order_no)
    if found is None:
        raise Conflict("concurrent request with the same merchant_order_no", code="MERCHANT_ORDER_NO_IN_USE")
    return _replay(found, digest)


async def _merchant_order(ctx: ServiceContext, payment_id: int) -> tuple[Order, MerchantPayment]:
    async with ctx.sessions() as db:
        query = select(Order, MerchantPayment).join(MerchantPayment, MerchantPayment.order_id == Order.id)
        row = (await db.execute(query.where(Order.id == payment_id))).first()
    if row is None:
        raise NotFound("no such payment", code="PAYMENT_NOT_FOUND")
    return row[0], row[1]


async def get_payment(ctx: ServiceContext, payment_id: int) -> dict[str, Any]:
    order, merchant = await _merchant_order(ctx, payment_id)
    return payment_view(order, merchant, order.user_id)


async def find_payments(ctx: ServiceContext, merchant_order_no: str | None, *, limit: int = 50) -> list[dict[str, Any]]:
    query = select(Order, MerchantPayment).join(MerchantPayment, MerchantPayment.order_id == Order.id)
    if merchant_order_no is not None:
        query = query.where(MerchantPayment.merchant_order_no == merchant_order_no)
    async with ctx.sessions() as db:
        rows = (await db.execute(query.order_by(Order.id.desc()).limit(limit))).all()
    return [payment_view(o, m, o.user_id) for o, m in rows]


async def pay_params(ctx: ServiceContext, payment_id: int) -> PayParams:
    """The ``wx.requestPayment`` object: the mini-program's own pay use case, for the order's shopper."""
    order, _ = await _merchant_order(ctx, payment_id)
    return await payments.pay(ctx, order.user_id, order.id)


async def confirm(ctx: ServiceContext, payment_id: int) -> dict[str, Any]:
    order, _ = await _merchant_order(ctx, payment_id)
    await payments.confirm(ctx, order.user_id, order.id)
    return await get_payment(ctx, payment_id)


async def cancel(ctx: ServiceContext, payment_id: int) -> dict[str, Any]:
    order, _ = await _merchant_order(ctx, payment_id)
    await payments.cancel(ctx, order.user_id, order.id)
    return await get_payment(ctx, payment_id)


async def refund(ctx: ServiceContext, payment_id: int, amount_fen: int, reason: str) -> Answer:
    await _merchant_order(ctx, payment_id)
    created = await refunds.create_refund(ctx, payment_id, amount_fen, reason, None)
    return Answer(created.status_code, created.body)
