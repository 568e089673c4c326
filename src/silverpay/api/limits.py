"""Request bodies: at most ``max_bytes``, and all of it within ``timeout_s`` — for every route, in one
ASGI middleware, before anything buffers or parses a byte.

The middleware does not answer by itself: the ``receive`` it hands down raises :class:`BodyTooLarge`
or :class:`BodyTimeout` (Starlette ``HTTPException``\\ s, which FastAPI lets through its own body
parsing) when whoever reads the body goes past a limit. The JSON API renders them as its usual
error body (413, 408) via :mod:`silverpay.api.errors`; the WeChat notification endpoints catch them
and record the rejection with WeChat's FAIL reply, as for any unreadable body. A route that never
reads its body never waits for it either (the server discards what arrives after the response).
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024  # the largest body the API or WeChat sends is a few KiB
BODY_TIMEOUT_S = 10.0  # for the whole body, from the end of the headers
_CLOSE = {"Connection": "close"}  # do not wait for the rest of a body we will not read


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes", headers=_CLOSE)


class BodyTimeout(HTTPException):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"request body not received within {timeout_s:g} s", headers=_CLOSE)


class BodyLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES, timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        max_bytes = self.max_bytes
        declared = _content_length(scope)
        received = 0
        complete = False

        async def limited() -> Message:
            nonlocal received, complete
            if complete:  # after the body: http.disconnect, which may rightly take as long as the response
                return await receive()
            if declared is not None and declared > max_bytes:
                raise BodyTooLarge(max_bytes)  # before reading a byte of it
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
