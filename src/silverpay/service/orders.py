"""Creating and reading orders. The server prices every order; the client only names what it wants."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from silverpay.beijing import format_beijing
from silverpay.clock import utc
from silverpay.domain.money import order_amount
from silverpay.domain.orders import OrderStatus
from silverpay.errors import Conflict, NotFound
from silverpay.service.context import ServiceContext
from silverpay.service.views import order_view
from silverpay.store import repo
from silverpay.store.ledger import CoreLedger, OrderRow
from silverpay.store.models import IdempotencyRecord, Order, Product


@dataclass(frozen=True)
class Created:
    status_code: int  # 201 first time; the stored first status on a replay
    body: dict[str, Any]
    replayed: bool


def wechat_body(text: str, limit: int = 127) -> str:
    """WeChat counts ``body`` in UTF-8 bytes (a Chinese character is three): cut at a character boundary."""
    return text.encode()[:limit].decode(errors="ignore")


def new_out_trade_no(now: float) -> str:
    """28 characters of WeChat's allowed set, time-ordered, unguessable: ``SP20261127221500a1b2c3d4e5f6``."""
    return "SP" + format_beijing(now) + secrets.token_hex(6)


def _request_hash(product_id: int, quantity: int) -> str:
    return hashlib.sha256(json.dumps([product_id, quantity]).encode()).hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> Created:
    if record.request_hash != request_hash:
        raise Conflict("Idempotency-Key was already used with a different request", code="IDEMPOTENCY_KEY_REUSED")
    return Created(record.status_code, json.loads(record.response), replayed=True)


async def create_order(
    ctx: ServiceContext, user_id: int, product_id: int, quantity: int, client_ip: str, idempotency_key: str | None
) -> Created:
    request_hash = _request_hash(product_id, quantity)
    try:
        async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
            if idempotency_key:
                record = await repo.idempotency_record(db, user_id, idempotency_key)
                if record is not None:
                    return _replay(record, request_hash)
            product = await db.get(Product, product_id)
            if product is None or not product.active:
                raise NotFound("no such product", code="PRODUCT_NOT_FOUND")
            now = ctx.clock()
            order = Order(
                out_trade_no=new_out_trade_no(now),
                user_id=user_id,
                product_id=product.id,
                quantity=quantity,
                amount_fen=order_amount(product.price_fen, quantity),
                description=wechat_body(f"{product.name} x{quantity}"),
                status=OrderStatus.CREATED.value,
                client_ip=client_ip,
                expires_at=utc(now + ctx.order_ttl_s),
                needs_review=False,
                review_reason="",
                created_at=utc(now),
                updated_at=utc(now),
            )
            db.add(order)
            await db.flush()
            tx.event(order, "status", {"from": None, "to": order.status, "source": "create"}, now=utc(now))
            await tx.add_attempt(order.id, order.out_trade_no, now=utc(now))
            body = order_view(order)
            if idempotency_key:
                db.add(
                    IdempotencyRecord(
                        user_id=user_id, key=idempotency_key, request_hash=request_hash,
                        status_code=201, response=json.dumps(body), created_at=utc(now),
                    )
                )  # fmt: skip
                await db.flush()  # a concurrent twin with the same key fails here and rolls back whole
            return Created(201, body, replayed=False)
    except IntegrityError:
        if not idempotency_key:
            raise
    async with ctx.sessions.begin() as db:  # the twin committed first: answer what it answered
        record = await repo.idempotency_record(db, user_id, idempotency_key)
        if record is None:
            raise Conflict("concurrent request with the same Idempotency-Key", code="IDEMPOTENCY_KEY_IN_USE")
        return _replay(record, request_hash)


async def owned_order(ctx: ServiceContext, user_id: int, order_id: int) -> OrderRow:
    """The caller's own order; someone else's is indistinguishable from a missing one."""
    order = await ctx.ledger.get(order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
    return order


async def get_order(ctx: ServiceContext, user_id: int, order_id: int) -> dict[str, Any]:
    return order_view(await owned_order(ctx, user_id, order_id))


async def list_orders(ctx: ServiceContext, user_id: int) -> list[dict[str, Any]]:
    async with ctx.sessions() as db:
        return [order_view(o) for o in await repo.orders_of_user(db, user_id)]
