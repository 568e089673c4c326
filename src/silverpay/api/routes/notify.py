from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from silverpay.api.deps import Context
from silverpay.errors import NotificationRejected, XmlError
from silverpay.request_body import read_capped
from silverpay.service import payments, refunds
from silverpay.service.context import ServiceContext
from silverpay.wechat.gateway import NotificationReply
from silverpay.wechat.v3.gateway import V3Notifications
from silverpay.wechat.v3.json_body import dumps

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/wechat", tags=["WeChat-facing"])


def _response(reply: NotificationReply) -> Response:
    return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)


@router.post("/notify")
async def notify(request: Request, ctx: Context) -> Response:
    """WeChat Pay v2 payment result notification (SPEC §2.10)."""
    try:
        body = await read_capped(request)
    except XmlError:
        body = b""  # too large: parse fails below and the rejection is recorded
    reply = await payments.handle_notification(ctx, body)
    return _response(reply)


@router.post("/refund-notify")
async def refund_notify(request: Request, ctx: Context) -> Response:
    """WeChat Pay v2 refund result notification, ``req_info`` encrypted (SPEC §2.11)."""
    try:
        body = await read_capped(request)
    except XmlError:
        body = b""
    reply = await refunds.handle_notification(ctx, body)
    return _response(reply)


def _fail(status: int, message: str) -> Response:
    return Response(dumps({"code": "FAIL", "message": message}), status_code=status, media_type="application/json")


@router.post("/v3/notify")
@router.post("/v3/refund-notify")  # the default refund notify URL (NOTIFY_URL's sibling) lands here too
async def notify_v3(request: Request, ctx: Context) -> Response:
    """WeChat Pay v3 notifications (SPEC §3.4): ``TRANSACTION.SUCCESS`` and ``REFUND.*``, signed in
    the ``Wechatpay-*`` headers, the resource encrypted with the APIv3 key. 204 acknowledges; a
    4xx/5xx with ``{"code":"FAIL","message":…}`` asks WeChat to retry."""
    gateway = ctx.gateway
    if not isinstance(gateway, V3Notifications):
        return _fail(404, "this service is not configured for WeChat Pay API v3")
    try:
        body = await read_capped(request)
    except XmlError:
        body = b""  # too large: verification fails below and the rejection is recorded
    try:
        return _response(await _handle_v3(ctx, gateway, request, body))
    except Exception:  # the database, most likely: WeChat will retry, and settlement is idempotent
        log.exception("v3 notification failed")
        return _fail(500, "internal error, retry later")


async def _handle_v3(ctx: ServiceContext, gateway: V3Notifications, request: Request, body: bytes) -> NotificationReply:
    try:
        event = await gateway.parse_v3_notification(request.headers, body)
    except NotificationRejected as rejected:  # an unknown serial the certificates could not supply, too
        return await payments.reject_notification(ctx, rejected)
    delivery = payments.Delivery(event.id, event.nonce)
    if event.payment is not None:
        return await payments.settle_notification(ctx, event.payment, delivery=delivery)
    if event.refund is not None:
        return await refunds.settle_notification(ctx, event.refund, delivery=delivery)
    # Genuine, but nothing we act on: acknowledge it, or WeChat retries it for a day.
    log.info("v3 notification %s of type %s acknowledged without action", event.id, event.event_type)
    return gateway.reply(True)
