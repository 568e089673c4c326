"""The WeChat-facing endpoints: notifications in, WeChat's expected reply out.

Plain Starlette endpoints (no FastAPI dependency resolution or body models: WeChat's bodies are
not ours to describe), since they are the busiest paths. The service answers an
:class:`~silverpay.service.notifications.Ack`; this module renders it: v2 wants XML
``return_code``/``return_msg``, v3 a 204, or a 4xx/5xx with ``{"code":"FAIL","message":…}``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from silverpay import metrics
from silverpay.api.limits import BodyTimeout, BodyTooLarge
from silverpay.errors import NotFound, NotificationRejected
from silverpay.service import mp_events, notifications
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


async def _receive(request: Request, kind: str, api_version: str) -> Ack:
    """The notification handled, counted by outcome and timed from arrival to answer."""
    ctx: ServiceContext = request.app.state.ctx
    started = time.perf_counter()
    outcome = "error"
    try:
        try:
            body = await request.body()  # capped and timed by api.limits.BodyLimits
        except (BodyTooLarge, BodyTimeout):
            body = b""  # too large or too slow: verification fails and the rejection is recorded
        ack = await notifications.receive(ctx, request.headers, body, kind=kind)
        outcome = "accepted" if ack.accepted else metrics.outcome_label(ack.message)
        return ack
    finally:
        metrics.SETTLE_SECONDS.labels(api_version).observe(time.perf_counter() - started)
        metrics.NOTIFICATIONS.labels(api_version, kind, outcome).inc()


async def notify_v2(request: Request) -> Response:
    """WeChat Pay v2 payment result notification (SPEC §2.10)."""
    return v2_reply(await _receive(request, "wechat.notify", "v2"))


async def refund_notify_v2(request: Request) -> Response:
    """WeChat Pay v2 refund result notification, ``req_info`` encrypted (SPEC §2.11)."""
    return v2_reply(await _receive(request, "wechat.refund_notify", "v2"))


async def notify_v3(request: Request) -> Response:
    """WeChat Pay v3 notifications (SPEC §3.4): ``TRANSACTION.SUCCESS`` and ``REFUND.*``."""
    try:
        return v3_reply(await _receive(request, "wechat.notify", "v3"))
    except Exception:  # the database, most likely: WeChat will retry, and settlement is idempotent
        log.exception("v3 notification failed")
        return v3_reply(Ack(False, "internal error, retry later"), status=500)


async def mp_events_endpoint(request: Request) -> Response:
    """The mini-program message push: GET is WeChat's URL check (answer ``echostr``), POST a push
    (answer ``success``; anything else makes WeChat retry)."""
    ctx: ServiceContext = request.app.state.ctx
    query = dict(request.query_params)
    try:
        if request.method == "GET":
            return Response(mp_events.url_check(ctx, query), media_type="text/plain")
        try:
            body = await request.body()
        except (BodyTooLarge, BodyTimeout):
            body = b""
        ack = await mp_events.receive(ctx, query, body)
    except NotificationRejected as rejected:
        log.warning("mp-events URL check refused: %s", rejected.code)
        return Response("fail", status_code=400, media_type="text/plain")
    except NotFound as missing:
        return Response(dumps({"error": {"code": missing.code, "message": missing.message}}), status_code=404,
                        media_type="application/json")  # fmt: skip
    if ack.accepted:
        return Response("success", media_type="text/plain")
    return Response("fail", status_code=400 if ack.message == "invalid notification" else 503, media_type="text/plain")


_mp_events = Route(f"{PREFIX}/mp-events", mp_events_endpoint, methods=["GET", "POST"])
_mp_events.methods.discard("HEAD")  # type: ignore[union-attr]  # (Starlette adds it to every GET; nobody needs it)

routes = [
    _mp_events,
    Route(f"{PREFIX}/notify", notify_v2, methods=["POST"]),
    Route(f"{PREFIX}/refund-notify", refund_notify_v2, methods=["POST"]),
    Route(f"{PREFIX}/v3/notify", notify_v3, methods=["POST"]),
    # The default refund notify URL (NOTIFY_URL's sibling) of a v3 service lands here too.
    Route(f"{PREFIX}/v3/refund-notify", notify_v3, methods=["POST"]),
]


# The OpenAPI description of the routes above (api.openapi adds it to the document): these are
# plain Starlette routes, so FastAPI cannot describe them itself.
_XML = {"text/xml", "application/xml"}
_V2_FIELDS = ("return_code", "return_msg", "appid", "mch_id", "nonce_str", "sign", "sign_type", "result_code",
              "openid", "trade_type", "bank_type", "total_fee", "cash_fee", "fee_type", "transaction_id",
              "out_trade_no", "time_end")  # fmt: skip
_V2_REFUND_FIELDS = ("return_code", "return_msg", "appid", "mch_id", "nonce_str", "req_info")


def _v2_body(fields: tuple[str, ...]) -> dict[str, Any]:
    schema = {"type": "object", "xml": {"name": "xml"}, "properties": {f: {"type": "string"} for f in fields}}
    return {"required": True, "content": {media: {"schema": schema} for media in sorted(_XML)}}


_V2_REPLY = {
    "type": "object", "xml": {"name": "xml"}, "required": ["return_code", "return_msg"],
    "properties": {"return_code": {"type": "string", "enum": ["SUCCESS", "FAIL"]}, "return_msg": {"type": "string"}},
}  # fmt: skip
_V3_FAIL = {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string", "enum": ["FAIL"]}, "message": {"type": "string"}},
}  # fmt: skip
_V3_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "id": {"type": "string"}, "create_time": {"type": "string"}, "event_type": {"type": "string"},
        "resource_type": {"type": "string"}, "summary": {"type": "string"},
        "resource": {"type": "object", "properties": {k: {"type": "string"} for k in (
            "algorithm", "ciphertext", "associated_data", "original_type", "nonce")}},
    }}}},
}  # fmt: skip
_V3_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial")
]


def _v2_operation(summary: str, fields: tuple[str, ...], operation_id: str) -> dict[str, Any]:
    reply = {media: {"schema": _V2_REPLY} for media in sorted(_XML)}
    return {"post": {
        "tags": ["wechat"], "summary": summary, "operationId": operation_id, "requestBody": _v2_body(fields),
        "responses": {
            "200": {"description": "Received: `return_code` SUCCESS (WeChat stops retrying)", "content": reply},
            "400": {"description": "Refused and recorded: `return_code` FAIL (not genuine, unreadable, too large or "
                                   "too slow)", "content": reply},
        },
    }}  # fmt: skip


def _v3_operation(summary: str, operation_id: str) -> dict[str, Any]:
    fail = {"application/json": {"schema": _V3_FAIL}}
    return {"post": {
        "tags": ["wechat"], "summary": summary, "operationId": operation_id, "parameters": _V3_HEADERS,
        "requestBody": _V3_BODY,
        "responses": {
            "204": {"description": "Received (WeChat stops retrying)"},
            "400": {"description": "Refused and recorded: not genuine, unreadable, too large or too slow",
                    "content": fail},
            "500": {"description": "Could not be processed now (the database): WeChat retries", "content": fail},
        },
    }}  # fmt: skip


_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_MP_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature", "openid")
]
_MP_RESPONSES = {
    "400": {"description": "Refused and recorded: signature, decryption or format (`fail`)", "content": _TEXT},
    "404": {
        "description": "Message push is not configured (`PUSH_NOT_CONFIGURED`)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    },
}
_MP_EVENTS = {
    "get": {"tags": ["wechat"], "summary": "Message-push URL check: answers `echostr` when the signature verifies",
            "operationId": "mp_events_check", "parameters": _MP_QUERY,
            "responses": {"200": {"description": "`echostr`", "content": _TEXT}, **_MP_RESPONSES}},
    "post": {"tags": ["wechat"], "summary": "Mini-program message push (shipping-management events), plain or safe "
                                            "mode, JSON or XML",
             "operationId": "mp_events_push", "parameters": _MP_QUERY,
             "requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object"}},
                 "text/xml": {"schema": {"type": "object", "xml": {"name": "xml"}}}}},
             "responses": {"200": {"description": "`success`: WeChat stops retrying", "content": _TEXT},
                           **_MP_RESPONSES,
                           "503": {"description": "Not checked with get_order yet (`fail`): WeChat retries",
                                   "content": _TEXT}}},
}  # fmt: skip

OPENAPI_PATHS: dict[str, Any] = {
    f"{PREFIX}/mp-events": _MP_EVENTS,
    f"{PREFIX}/notify": _v2_operation("WeChat Pay v2 payment notification (SPEC §2.10)", _V2_FIELDS, "notify_v2"),
    f"{PREFIX}/refund-notify": _v2_operation("WeChat Pay v2 refund notification, `req_info` encrypted (SPEC §2.11)",
                                             _V2_REFUND_FIELDS, "refund_notify_v2"),
    f"{PREFIX}/v3/notify": _v3_operation("WeChat Pay v3 notification: TRANSACTION.SUCCESS, REFUND.* (SPEC §3.4)",
                                         "notify_v3"),
    f"{PREFIX}/v3/refund-notify": _v3_operation("WeChat Pay v3 notification at the default refund notify URL",
                                                "refund_notify_v3"),
}  # fmt: skip
