from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from silverpay.api.deps import Admin, Context
from silverpay.api.openapi import error_responses
from silverpay.api.routes.orders import IdempotencyKey
from silverpay.api.schemas import PathId, ProductCreate, ProductOut, ProductUpdate, RefundCreate
from silverpay.service import admin, catalogue, refunds

router = APIRouter(prefix="/api/v1/admin", tags=["operator"], dependencies=[Admin], responses=error_responses(401))


@router.get("/orders/{order_id}", responses=error_responses(404))
async def get_order(order_id: PathId, ctx: Context) -> dict[str, Any]:
    """An order with its refunds and full event history (secrets and signatures redacted)."""
    return await admin.order_detail(ctx, order_id)


@router.post("/orders/{order_id}/refunds", status_code=201, responses=error_responses(404, 409, 502, 503))
async def create_refund(
    order_id: PathId, body: RefundCreate, ctx: Context, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Refund part or all of a paid order. The sum of refunds not CLOSED never exceeds the paid amount."""
    created = await refunds.create_refund(ctx, order_id, body.amount_fen, body.reason, idempotency_key)
    return JSONResponse(created.body, status_code=created.status_code)


@router.get("/products", response_model=list[ProductOut])
async def list_products(ctx: Context) -> list[dict[str, Any]]:
    return await catalogue.list_products(ctx, include_inactive=True)


@router.post("/products", response_model=ProductOut, status_code=201)
async def create_product(body: ProductCreate, ctx: Context) -> dict[str, Any]:
    return await catalogue.create_product(ctx, body.name, body.price_fen, body.active)


@router.patch("/products/{product_id}", response_model=ProductOut, responses=error_responses(404))
async def update_product(product_id: PathId, body: ProductUpdate, ctx: Context) -> dict[str, Any]:
    return await catalogue.update_product(ctx, product_id, name=body.name, price_fen=body.price_fen, active=body.active)
