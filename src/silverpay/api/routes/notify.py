from __future__ import annotations

from fastapi import APIRouter, Request, Response

from silverpay.api.deps import Context
from silverpay.errors import XmlError
from silverpay.request_body import read_capped
from silverpay.service import payments, refunds

router = APIRouter(prefix="/api/v1/wechat", tags=["WeChat-facing"])


@router.post("/notify")
async def notify(request: Request, ctx: Context) -> Response:
    """WeChat Pay v2 payment result notification (SPEC §2.10)."""
    try:
        body = await read_capped(request)
    except XmlError:
        body = b""  # too large: parse fails below and the rejection is recorded
    reply = await payments.handle_notification(ctx, body)
    return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)


@router.post("/refund-notify")
async def refund_notify(request: Request, ctx: Context) -> Response:
    """WeChat Pay v2 refund result notification, ``req_info`` encrypted (SPEC §2.11)."""
    try:
        body = await read_capped(request)
    except XmlError:
        body = b""
    reply = await refunds.handle_notification(ctx, body)
    return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)
