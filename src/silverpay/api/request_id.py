"""A request id for every request: taken from an incoming ``X-Request-Id`` when it is well formed,
made up otherwise; set for the request's logging (:data:`silverpay.logs.request_id`) and sent back
in the response's ``X-Request-Id``. Pure ASGI, so it costs no extra task or buffering."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from silverpay.logs import request_id

HEADER = b"x-request-id"
# What a proxy or client may hand in: short, printable, no spaces or quotes (it is logged and echoed).
WELL_FORMED = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")


def incoming(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("ascii") if WELL_FORMED.fullmatch(value) else None
    return None


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming(scope) or uuid.uuid4().hex
        header = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
