"""Read an inbound HTTP body with a size cap, before anything parses it."""

from __future__ import annotations

from starlette.requests import Request

from silverpay.errors import XmlError

DEFAULT_LIMIT = 64 * 1024


async def read_capped(request: Request, limit: int = DEFAULT_LIMIT) -> bytes:
    """The body, or :class:`XmlError` as soon as it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise XmlError(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise XmlError(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
