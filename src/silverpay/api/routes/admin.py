"""The operator API: orders and what operators do to them, refunds, products. Every route names
the least role it needs (viewer < support < finance < owner); the server enforces it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from silverpay.api.deps import Admin, Context, Finance, Owner, Support, Viewer
from silverpay.api.openapi import error_responses
from silverpay.api.routes.orders import IdempotencyKey
from silverpay.api.schemas import (
    CONTROL_CHARACTERS,
    MAX_ID,
    PathId,
    ProductCreate,
    ProductOut,
    ProductUpdate,
    RefundCreate,
    ShipmentCreate,
)
from silverpay.api.schemas_console import OrderPage, ReviewResolve
from silverpay.domain.orders import OrderStatus
from silverpay.domain.shipping import ShipmentState
from silverpay.errors import InvalidRequest
from silverpay.service import admin, audit, catalogue, console_queries, refunds, shipping

NO_CONTROL = f"^[^{CONTROL_CHARACTERS}]*$"
MAX_FEN = 10**15
RefundFilter = Literal["PROCESSING", "SUCCESS", "CLOSED", "ABNORMAL", "stale"]
router = APIRouter(prefix="/api/v1/admin", tags=["operator"], dependencies=[Admin],
                   responses=error_responses(401, 403))  # fmt: skip


@router.get("/orders", response_model=OrderPage, responses=error_responses(400))
async def search_orders(
    ctx: Context, operator: Viewer,
    q: Annotated[str, Query(max_length=128, pattern=NO_CONTROL,
                            description="out_trade_no (or its start), transaction_id, openid or user id")] = "",
    status: OrderStatus | None = None,
    created_from: Annotated[datetime | None, Query(alias="from", description="created at or after (UTC if "
                                                   "no offset)")] = None,
    created_to: Annotated[datetime | None, Query(alias="to", description="created before (exclusive)")] = None,
    min_fen: Annotated[int | None, Query(ge=0, le=MAX_FEN)] = None,
    max_fen: Annotated[int | None, Query(ge=0, le=MAX_FEN)] = None,
    needs_review: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:  # fmt: skip
    """Search orders, newest first, a page at a time, with the count and amount totals of every
    order matching the filters."""
    return await console_queries.search_orders(
        ctx, q=q, status=status.value if status else None, created_from=_utc(created_from), created_to=_utc(created_to),
        min_fen=min_fen, max_fen=max_fen, needs_review=needs_review, page=page, per_page=per_page,
    )  # fmt: skip


def _utc(value: datetime | None) -> datetime | None:
    """A bound as aware UTC (naive means UTC), within the years every backend stores."""
    if value is None:
        return None
    try:
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise InvalidRequest("time out of range") from None
    if not 1970 <= value.year <= 9998:
        raise InvalidRequest("time out of range: years 1970 to 9998")
    return value


@router.get("/review-queue")
async def review_queue(ctx: Context, operator: Viewer) -> list[dict[str, Any]]:
    """Every order flagged for review, with its reason and when it was flagged, oldest first."""
    return await console_queries.review_queue(ctx)


@router.get("/refunds")
async def list_refunds(
    ctx: Context, operator: Viewer,
    status: Annotated[RefundFilter | None, Query(description="a status, or `stale`: PROCESSING for over a day")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:  # fmt: skip
    """Refunds newest first, each marked `stale` when PROCESSING for more than a day."""
    return await console_queries.list_refunds(ctx, status=status, page=page, per_page=per_page)


@router.get("/notifications/rejected")
async def rejected_notifications(
    ctx: Context, operator: Viewer, hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24
) -> dict[str, Any]:
    """Inbound notifications refused in the last `hours`, grouped by reason (bad signature, foreign
    appid, unreadable…) with counts per hour: where a misconfigured key shows first."""
    return await console_queries.rejected_notifications(ctx, hours=hours)


@router.get("/health")
async def health(ctx: Context, operator: Viewer, request: Request) -> dict[str, Any]:
    """Database reachable, sweeper backlog (PAYING orders due, oldest due age), refunds PROCESSING
    and stale, flagged orders, last clean reconciliation day, v3 platform keys and certificate
    expiry, WeChat API calls and failures in the last hour; `missing` names what is not recorded."""
    return await console_queries.health(ctx, api_version=request.app.state.wechat_api_version)


@router.get("/orders/{order_id}", responses=error_responses(404))
async def get_order(order_id: PathId, ctx: Context, operator: Viewer) -> dict[str, Any]:
    """An order with its refunds (and the amount still refundable), its full timeline of events —
    operator actions included — and the latest rejected notifications that named it (secrets and
    signatures redacted)."""
    return await admin.order_detail(ctx, order_id)


@router.post("/orders/{order_id}/requery", responses=error_responses(404, 502, 503))
async def requery_order(order_id: PathId, ctx: Context, operator: Support) -> dict[str, Any]:
    """Ask WeChat about the order now and settle it from the answer (support); the order as above."""
    return await admin.requery(ctx, order_id, actor=operator)


@router.post("/orders/{order_id}/close", responses=error_responses(404, 409, 502, 503))
async def close_order(order_id: PathId, ctx: Context, operator: Support) -> dict[str, Any]:
    """Close an unpaid order, at WeChat first (support). A payment WeChat reports settles it
    instead. `ORDER_ALREADY_PAID` / `ORDER_CLOSED` (409) when it is not open."""
    return await admin.close(ctx, order_id, actor=operator)


@router.post("/orders/{order_id}/review/resolve", responses=error_responses(404, 409))
async def resolve_review(order_id: PathId, body: ReviewResolve, ctx: Context, operator: Finance) -> dict[str, Any]:
    """Mark the order's needs-review flag resolved, with a note (finance). `ORDER_NOT_FLAGGED` (409)."""
    return await admin.resolve_review(ctx, order_id, body.note, actor=operator)


@router.post("/orders/{order_id}/refunds", status_code=201, responses=error_responses(404, 409, 502, 503))
async def create_refund(
    order_id: PathId, body: RefundCreate, ctx: Context, operator: Finance, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Refund part or all of a paid order (finance). The sum of refunds not CLOSED never exceeds the paid amount."""
    created = await refunds.create_refund(ctx, order_id, body.amount_fen, body.reason, idempotency_key,
                                          actor=operator)  # fmt: skip
    return JSONResponse(created.body, status_code=created.status_code)


@router.post("/refunds/{refund_id}/resend", responses=error_responses(404, 409, 502, 503))
async def resend_refund(refund_id: PathId, ctx: Context, operator: Support) -> dict[str, Any]:
    """Re-send a refund WeChat has not acknowledged (same number: refunded once), or ask WeChat about
    an acknowledged one (support). `REFUND_SETTLED` (409) once it is final."""
    return await admin.resend_refund(ctx, refund_id, actor=operator)


@router.get("/products", response_model=list[ProductOut])
async def list_products(ctx: Context, operator: Viewer) -> list[dict[str, Any]]:
    return await catalogue.list_products(ctx, include_inactive=True)


@router.post("/products", response_model=ProductOut, status_code=201)
async def create_product(body: ProductCreate, ctx: Context, operator: Owner) -> dict[str, Any]:
    """A new product (owner)."""
    return await catalogue.create_product(ctx, body.name, body.price_fen, body.active, body.auto_ship_virtual,
                                          actor=operator)  # fmt: skip


@router.patch("/products/{product_id}", response_model=ProductOut, responses=error_responses(404))
async def update_product(product_id: PathId, body: ProductUpdate, ctx: Context, operator: Owner) -> dict[str, Any]:
    """Rename, re-price (new orders only) or (de)activate a product (owner)."""
    return await catalogue.update_product(ctx, product_id, name=body.name, price_fen=body.price_fen,
                                          active=body.active, auto_ship_virtual=body.auto_ship_virtual,
                                          actor=operator)  # fmt: skip


@router.get("/audit")
async def audit_trail(
    ctx: Context, operator: Owner, limit: int = Query(100, ge=1, le=500),
    before_id: int | None = Query(None, ge=1, le=MAX_ID, description="page back: actions older than this id"),
) -> list[dict[str, Any]]:  # fmt: skip
    """What operators did outside orders (accounts, products, reconciliation runs), newest first
    (owner). Actions on an order are in that order's timeline."""
    return await audit.list_actions(ctx, limit=limit, before_id=before_id)


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
