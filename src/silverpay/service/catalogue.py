"""Products: what the mini-program can buy. Prices are set here, never by the client."""

from __future__ import annotations

from typing import Any

from silverpay.clock import utc
from silverpay.domain.operators import Operator
from silverpay.errors import InvalidRequest, NotFound
from silverpay.service import audit
from silverpay.service.context import ServiceContext
from silverpay.service.views import product_view
from silverpay.store import repo
from silverpay.store.models import Product

# (name, price, auto_ship_virtual): the membership is virtual goods, shipped to WeChat on payment.
DEMO_CATALOGUE = (("Pour-over coffee", 1800, False), ("Matcha latte", 2600, False), ("Monthly membership", 9900, True))


async def list_products(ctx: ServiceContext, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    async with ctx.sessions() as db:
        return [product_view(p) for p in await repo.list_products(db, include_inactive=include_inactive)]


async def create_product(
    ctx: ServiceContext,
    name: str,
    price_fen: int,
    active: bool = True,
    auto_ship_virtual: bool = False,
    *,
    actor: Operator | None = None,
) -> dict[str, Any]:
    """A new product; ``actor``'s action is recorded in the audit trail with it."""
    if price_fen <= 0:
        raise InvalidRequest("price_fen must be a positive number of fen")
    async with ctx.sessions.begin() as db:
        now = ctx.clock()
        product = Product(name=name, price_fen=price_fen, active=active, created_at=utc(now),
                          auto_ship_virtual=auto_ship_virtual)  # fmt: skip
        db.add(product)
        await db.flush()
        if actor is not None:
            audit.record(db, actor, "product.create", f"product:{product.id}", product_view(product), now=now)
        return product_view(product)


async def update_product(
    ctx: ServiceContext, product_id: int, *, name: str | None, price_fen: int | None, active: bool | None,
    auto_ship_virtual: bool | None = None, actor: Operator | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Change a product (a price change applies to new orders only); ``actor``'s change is audited."""
    if price_fen is not None and price_fen <= 0:
        raise InvalidRequest("price_fen must be a positive number of fen")
    async with ctx.sessions.begin() as db:
        product = await db.get(Product, product_id, with_for_update=True)
        if product is None:
            raise NotFound("no such product", code="PRODUCT_NOT_FOUND")
        if name is not None:
            product.name = name
        if price_fen is not None:
            product.price_fen = price_fen  # existing orders keep the amount they were created with
        if active is not None:
            product.active = active
        if auto_ship_virtual is not None:
            product.auto_ship_virtual = auto_ship_virtual
        if actor is not None:
            changes = {"name": name, "price_fen": price_fen, "active": active, "auto_ship_virtual": auto_ship_virtual}
            audit.record(db, actor, "product.update", f"product:{product.id}",
                         {k: v for k, v in changes.items() if v is not None}, now=ctx.clock())  # fmt: skip
        return product_view(product)


async def seed_demo_catalogue(ctx: ServiceContext) -> None:
    async with ctx.sessions.begin() as db:
        if await repo.list_products(db, include_inactive=True):
            return
        now = utc(ctx.clock())
        db.add_all(Product(name=name, price_fen=price, active=True, created_at=now, auto_ship_virtual=virtual)
                   for name, price, virtual in DEMO_CATALOGUE)  # fmt: skip
