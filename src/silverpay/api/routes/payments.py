"""The payments API for merchant backends (``Authorization: Bearer sk_…``). Every POST honours
``Idempotency-Key``; each route calls the use case the mini-program and operator APIs call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from silverpay.api.deps import Context
from silverpay.api.merchant_auth import ApiCaller
from silverpay.api.openapi import error_responses
from silverpay.api.routes.orders import IdempotencyKey
from silverpay.api.schemas import (
    MERCHANT_ORDER_NO_PATTERN,
    PathId,
    PaymentCreate,
    PaymentOut,
    PayParamsOut,
    RefundCreate,
)
from silverpay.service import merchant_payments
from silverpay.service.api_idempotency import Answer, idempotent, request_hash
from silverpay.service.merchant_payments import NewPayment

router = APIRouter(prefix="/api/v1/payments", tags=["payments API"], responses=error_responses(401))


def _respond(answer: Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": PaymentOut, "description": "The same merchant_order_no and body again: the payment"}
}


@router.post("", status_code=201, response_model=PaymentOut, responses={**REPLAYED, **error_responses(404, 409)})
async def create_payment(
    body: PaymentCreate, request: Request, ctx: Context, key: ApiCaller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Create a payment for an amount the merchant's backend sets. The same `merchant_order_no`
    with the same body answers the payment again (200, `Idempotent-Replayed`); with another body, 409."""
    client_ip = request.client.host if request.client else "127.0.0.1"
    new = NewPayment(**body.model_dump())

    async def run() -> Answer:
        return await merchant_payments.create_payment(ctx, key, new, client_ip)

    digest = request_hash("POST", "/payments", body.model_dump())
    return _respond(await idempotent(ctx, idempotency_key, digest, run))


@router.get("", response_model=list[PaymentOut])
async def find_payments(
    ctx: Context,
    key: ApiCaller,
    merchant_order_no: str | None = Query(None, min_length=1, max_length=64, pattern=MERCHANT_ORDER_NO_PATTERN),
) -> list[dict[str, Any]]:
    """The payment with this `merchant_order_no` (a list of zero or one), or the latest 50."""
    return await merchant_payments.find_payments(ctx, merchant_order_no)


@router.get("/{payment_id}", response_model=PaymentOut, responses=error_responses(404))
async def get_payment(payment_id: PathId, ctx: Context, key: ApiCaller) -> dict[str, Any]:
    return await merchant_payments.get_payment(ctx, payment_id)


@router.post("/{payment_id}/pay-params", response_model=PayParamsOut,
             responses=error_responses(404, 409, 502, 503))  # fmt: skip
async def pay_params(
    payment_id: PathId, ctx: Context, key: ApiCaller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """The object your mini-program passes to `wx.requestPayment` (a still-valid prepay is reused)."""

    async def run() -> Answer:
        params = await merchant_payments.pay_params(ctx, payment_id)
        return Answer(200, PayParamsOut.model_validate(params, from_attributes=True).model_dump())

    digest = request_hash("POST", f"/payments/{payment_id}/pay-params", None)
    return _respond(await idempotent(ctx, idempotency_key, digest, run))


@router.post("/{payment_id}/confirm", response_model=PaymentOut, responses=error_responses(404, 409, 502, 503))
async def confirm(
    payment_id: PathId, ctx: Context, key: ApiCaller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Ask WeChat now and answer with the settled truth."""

    async def run() -> Answer:
        return Answer(200, await merchant_payments.confirm(ctx, payment_id))

    digest = request_hash("POST", f"/payments/{payment_id}/confirm", None)
    return _respond(await idempotent(ctx, idempotency_key, digest, run))


@router.post("/{payment_id}/cancel", response_model=PaymentOut, responses=error_responses(404, 409, 502, 503))
async def cancel(
    payment_id: PathId, ctx: Context, key: ApiCaller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Close the payment (if WeChat says it was paid, it becomes PAID instead)."""

    async def run() -> Answer:
        return Answer(200, await merchant_payments.cancel(ctx, payment_id))

    digest = request_hash("POST", f"/payments/{payment_id}/cancel", None)
    return _respond(await idempotent(ctx, idempotency_key, digest, run))


@router.post("/{payment_id}/refunds", status_code=201, responses=error_responses(404, 409, 502, 503))
async def create_refund(
    payment_id: PathId, body: RefundCreate, ctx: Context, key: ApiCaller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Refund part or all of a paid payment (the operator API's refund use case)."""

    async def run() -> Answer:
        return await merchant_payments.refund(ctx, payment_id, body.amount_fen, body.reason)

    digest = request_hash("POST", f"/payments/{payment_id}/refunds", body.model_dump())
    return _respond(await idempotent(ctx, idempotency_key, digest, run))
