from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from silverpay.api.deps import Admin, Context, Support
from silverpay.api.openapi import error_responses
from silverpay.api.routes.orders import IdempotencyKey
from silverpay.api.schemas import PathId, ProductCreate, ProductOut, ProductUpdate, RefundCreate, ShipmentCreate
from silverpay.domain.shipping import ShipmentState
from silverpay.service import admin, catalogue, refunds, shipping

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
    return await catalogue.create_product(ctx, body.name, body.price_fen, body.active, body.auto_ship_virtual)


@router.patch("/products/{product_id}", response_model=ProductOut, responses=error_responses(404))
async def update_product(product_id: PathId, body: ProductUpdate, ctx: Context) -> dict[str, Any]:
    return await catalogue.update_product(ctx, product_id, name=body.name, price_fen=body.price_fen, active=body.active,
                                          auto_ship_virtual=body.auto_ship_virtual)  # fmt: skip


@router.post("/orders/{order_id}/shipments", status_code=201, responses=error_responses(400, 403, 404, 409))
async def create_shipment(
    order_id: PathId, body: ShipmentCreate, ctx: Context, operator: Support, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Record a paid order's shipping at WeChat (uploaded at once; the worker retries). WeChat allows
    one change after the first upload: a change needs `use_last_reship: true` (else 409
    `SHIPMENT_LAST_RESHIP`), and a second change is refused (409 `SHIPMENT_RESHIP_USED`)."""
    request = shipping.ShipmentRequest(
        logistics_type=body.logistics_type, delivery_mode=body.delivery_mode,
        parcels=tuple(p.model_dump(exclude_none=True) for p in body.parcels), is_all_delivered=body.is_all_delivered,
        use_last_reship=body.use_last_reship,
    )  # fmt: skip
    created = await shipping.request_shipment(ctx, order_id, request, requested_by=operator.name,
                                              idempotency_key=idempotency_key)  # fmt: skip
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    return JSONResponse(created.body, status_code=created.status_code, headers=headers)


@router.get("/shipments")
async def list_shipments(
    ctx: Context, state: ShipmentState | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """Paid orders with their shipment state (`state=` filters): orders unshipped or blocked for more
    than 24 h first, then by payment time."""
    return await shipping.queue(ctx, state, limit=limit)
