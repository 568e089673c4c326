"""The WeChat-facing endpoints: notifications in, WeChat's expected reply out.

Plain Starlette endpoints (no FastAPI dependency resolution or body models: WeChat's bodies are
not ours to describe), since they are the busiest paths. The service answers an
:class:`~silverpay.service.notifications.Ack`; this module renders it: v2 wants XML
``return_code``/``return_msg``, v3 a 204, or a 4xx/5xx with ``{"code":"FAIL","message":…}``.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from silverpay.errors import XmlError
from silverpay.request_body import read_capped
from silverpay.service import notifications
from silverpay.service.context import ServiceContext
from silverpay.service.notifications import Ack
from silverpay.wechat.v2 import xml
from silverpay.wechat.v3.json_body import dumps

log = logging.getLogger(__name__)
PREFIX = "/api/v1/wechat"


def v2_reply(ack: Ack) -> Response:
    body = xml.encode({"return_code": "SUCCESS" if ack.accepted else "FAIL", "return_msg": ack.message})
    return Response(body, status_code=200 if ack.accepted else 400, media_type="text/xml")


def v3_reply(ack: Ack, *, status: int = 400) -> Response:
    """204 stops WeChat's retries (SPEC §3.4: 200 or 204, no body needed); a 4xx/5xx with
    ``{"code":"FAIL","message":…}`` asks for them."""
    if ack.accepted:
        return Response(status_code=204)
    return Response(dumps({"code": "FAIL", "message": ack.message}), status_code=status, media_type="application/json")


async def _receive(request: Request, kind: str) -> Ack:
    ctx: ServiceContext = request.app.state.ctx
    try:
        body = await read_capped(request)
    except XmlError:
        body = b""  # too large: verification fails and the rejection is recorded
    return await notifications.receive(ctx, request.headers, body, kind=kind)


async def notify_v2(request: Request) -> Response:
    """WeChat Pay v2 payment result notification (SPEC §2.10)."""
    return v2_reply(await _receive(request, "wechat.notify"))


async def refund_notify_v2(request: Request) -> Response:
    """WeChat Pay v2 refund result notification, ``req_info`` encrypted (SPEC §2.11)."""
    return v2_reply(await _receive(request, "wechat.refund_notify"))


async def notify_v3(request: Request) -> Response:
    """WeChat Pay v3 notifications (SPEC §3.4): ``TRANSACTION.SUCCESS`` and ``REFUND.*``."""
    try:
        return v3_reply(await _receive(request, "wechat.notify"))
    except Exception:  # the database, most likely: WeChat will retry, and settlement is idempotent
        log.exception("v3 notification failed")
        return v3_reply(Ack(False, "internal error, retry later"), status=500)


routes = [
    Route(f"{PREFIX}/notify", notify_v2, methods=["POST"]),
    Route(f"{PREFIX}/refund-notify", refund_notify_v2, methods=["POST"]),
    Route(f"{PREFIX}/v3/notify", notify_v3, methods=["POST"]),
    # The default refund notify URL (NOTIFY_URL's sibling) of a v3 service lands here too.
    Route(f"{PREFIX}/v3/refund-notify", notify_v3, methods=["POST"]),
]
