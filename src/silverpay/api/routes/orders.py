from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from silverpay.api.deps import Context, UserId
from silverpay.api.openapi import error_responses
from silverpay.api.schemas import OrderCreate, OrderOut, PathId, PayParamsOut, Text
from silverpay.service import orders, payments, shipping

router = APIRouter(prefix="/api/v1/orders", tags=["mini-program"], responses=error_responses(401))
IdempotencyKey = Annotated[Text | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)]


@router.post("", status_code=201, response_model=OrderOut, responses=error_responses(404, 409))
async def create_order(
    body: OrderCreate, request: Request, ctx: Context, user_id: UserId, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Create an order; the server computes the amount from its own catalogue."""
    client_ip = request.client.host if request.client else "127.0.0.1"
    created = await orders.create_order(ctx, user_id, body.product_id, body.quantity, client_ip, idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    return JSONResponse(created.body, status_code=created.status_code, headers=headers)


@router.get("", response_model=list[OrderOut])
async def list_orders(ctx: Context, user_id: UserId) -> list[dict[str, Any]]:
    return await orders.list_orders(ctx, user_id)


@router.get("/{order_id}", response_model=OrderOut, responses=error_responses(404))
async def get_order(order_id: PathId, ctx: Context, user_id: UserId) -> dict[str, Any]:
    return await orders.get_order(ctx, user_id, order_id)


@router.post("/{order_id}/pay", response_model=PayParamsOut, responses=error_responses(404, 409, 502, 503))
async def pay(order_id: PathId, ctx: Context, user_id: UserId) -> PayParamsOut:
    """The object to pass to `wx.requestPayment` (a still-valid prepay is reused)."""
    params = await payments.pay(ctx, user_id, order_id)
    return PayParamsOut.model_validate(params, from_attributes=True)


@router.post("/{order_id}/confirm", response_model=OrderOut, responses=error_responses(404, 409, 502, 503))
async def confirm(order_id: PathId, ctx: Context, user_id: UserId) -> dict[str, Any]:
    """Call after `wx.requestPayment` succeeds: the server asks WeChat and answers with the truth."""
    return await payments.confirm(ctx, user_id, order_id)


@router.post("/{order_id}/cancel", response_model=OrderOut, responses=error_responses(404, 409, 502, 503))
async def cancel(order_id: PathId, ctx: Context, user_id: UserId) -> dict[str, Any]:
    """Close the order at WeChat, then here; if WeChat says it was paid, it becomes PAID instead."""
    return await payments.cancel(ctx, user_id, order_id)


@router.get("/{order_id}/shipment", responses=error_responses(404))
async def get_shipment(order_id: PathId, ctx: Context, user_id: UserId) -> dict[str, Any]:
    """The order's shipping state for the buyer's order page, with the `transaction_id`
    `wx.openBusinessView({businessType: 'weappOrderConfirm'})` needs when `can_confirm_receipt`."""
    return await shipping.buyer_shipment(ctx, user_id, order_id)


@router.post("/{order_id}/shipment/refresh", responses=error_responses(404))
async def refresh_shipment(order_id: PathId, ctx: Context, user_id: UserId) -> dict[str, Any]:
    """Call after the buyer confirmed receipt (`openBusinessView` succeeded): the server asks WeChat
    (`get_order`) and answers with the shipment as WeChat's record makes it."""
    return await shipping.buyer_shipment(ctx, user_id, order_id, refresh_first=True)
