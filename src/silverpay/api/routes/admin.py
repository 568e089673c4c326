from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from silverpay.api.deps import Admin, Context
from silverpay.api.schemas import ErrorOut, ProductCreate, ProductOut, ProductUpdate
from silverpay.errors import NotFound
from silverpay.service import catalogue
from silverpay.service.views import admin_order_view
from silverpay.store import repo
from silverpay.store.models import Order

router = APIRouter(
    prefix="/api/v1/admin", tags=["operator"], dependencies=[Admin], responses={401: {"model": ErrorOut}}
)


@router.get("/orders/{order_id}")
async def get_order(order_id: int, ctx: Context) -> dict[str, Any]:
    """An order with its full event history (secrets and signatures redacted)."""
    async with ctx.sessions() as db:
        order = await db.get(Order, order_id)
        if order is None:
            raise NotFound("no such order", code="ORDER_NOT_FOUND")
        return admin_order_view(order, list(await repo.events_of(db, order.id)))


@router.get("/products", response_model=list[ProductOut])
async def list_products(ctx: Context) -> list[dict[str, Any]]:
    return await catalogue.list_products(ctx, include_inactive=True)


@router.post("/products", response_model=ProductOut, status_code=201)
async def create_product(body: ProductCreate, ctx: Context) -> dict[str, Any]:
    return await catalogue.create_product(ctx, body.name, body.price_fen, body.active)


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(product_id: int, body: ProductUpdate, ctx: Context) -> dict[str, Any]:
    return await catalogue.update_product(ctx, product_id, name=body.name, price_fen=body.price_fen, active=body.active)
