"""The HTTP client webhook deliveries go out through: one ``POST`` at a time per connection,
HTTP/1.1 keep-alive per host, on asyncio streams.

A delivery needs little of HTTP — send a body, read the status and the first 1 KB of the answer —
and the worker sends thousands a second, so this client does exactly that and no more (no
redirects, no proxies, no cookies): a general client's per-request machinery cost several times
the delivery itself (bench/webhooks.py). A connection is kept only when its answer was read whole
(Content-Length or chunked, up to :data:`DRAIN_LIMIT`); anything else closes it. A kept connection
the receiver has closed meanwhile fails before any answer byte: such a request is sent once more on
a new connection (at-least-once delivery allows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import httpx

HEAD_BYTES = 1024  # what is kept of an answer
DRAIN_LIMIT = 64 * 1024  # an answer longer than this is not read to the end: its connection is closed
MAX_HEADER_LINES = 100


class WebhookHttpError(Exception):
    """The receiver answered something that is not HTTP/1.x."""


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``body``; the status and the first :data:`HEAD_BYTES` of the answer. Raises
        OSError, asyncio.IncompleteReadError or WebhookHttpError when no answer came."""
        ...

    async def aclose(self) -> None: ...


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Stale(Exception):
    """A kept connection answered nothing: the receiver closed it while it was idle."""


class StreamPoster:
    def __init__(self, *, max_idle_per_host: int = 64, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._max_idle = max_idle_per_host
        self._ssl = ssl_context

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookHttpError("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items()), "", ""]  # fmt: skip
        request = "\r\n".join(lines).encode("latin-1") + body
        idle = self._idle.get(key)
        while idle:  # a kept connection first; one the receiver closed is dropped, and the next tried
            connection = idle.pop()
            try:
                return await self._exchange(key, connection, request, reused=True)
            except _Stale:
                continue
        connection = await self._connect(key)
        return await self._exchange(key, connection, request, reused=False)

    async def _connect(self, key: tuple[str, str, int]) -> Connection:
        scheme, hostname, port = key
        context = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        return await asyncio.open_connection(hostname, port, ssl=context, server_hostname=hostname if context else None)

    async def _exchange(
        self, key: tuple[str, str, int], connection: Connection, request: bytes, *, reused: bool
    ) -> tuple[int, bytes]:
        reader, writer = connection
        keep = False
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                if reused:
                    raise _Stale
                raise asyncio.IncompleteReadError(b"", None)
            status, fields = await self._head(reader, status_line)
            while 100 <= status < 200:  # an interim answer: the real one follows
                status, fields = await self._head(reader, await reader.readline())
            head, keep = await self._body(reader, fields)
            return status, head
        except ConnectionError:  # reset, broken pipe
            if reused:
                raise _Stale from None
            raise
        finally:
            if keep and len(self._idle.setdefault(key, [])) < self._max_idle:
                self._idle[key].append(connection)
            else:
                writer.close()

    @staticmethod
    async def _head(reader: asyncio.StreamReader, status_line: bytes) -> tuple[int, dict[str, str]]:
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise WebhookHttpError("not an HTTP/1.x answer")
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                return int(parts[1]), fields
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        raise WebhookHttpError("too many header lines")

    @staticmethod
    async def _body(reader: asyncio.StreamReader, fields: dict[str, str]) -> tuple[bytes, bool]:
        """The answer's first bytes, and whether the connection may be kept (the answer read whole)."""
        closing = fields.get("connection", "").lower() == "close"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            body = b""
            while len(body) <= DRAIN_LIMIT:
                size_line = await reader.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return body[:HEAD_BYTES], not closing
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            return body[:HEAD_BYTES], False
        if "content-length" in fields:
            length = int(fields["content-length"])
            if length > DRAIN_LIMIT:
                return await reader.readexactly(min(length, HEAD_BYTES)), False
            return (await reader.readexactly(length))[:HEAD_BYTES], not closing
        return await reader.read(HEAD_BYTES), False  # the answer ends when the receiver closes

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        self._idle.clear()


class HttpxPoster:
    """The same through an httpx client (tests hand in one on a mock transport)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException as error:
            raise TimeoutError(str(error)) from None
        except httpx.HTTPError as error:
            raise OSError(f"{type(error).__name__}: {error}") from None
        return response.status_code, response.content[:HEAD_BYTES]

    async def aclose(self) -> None:
        await self._client.aclose()
