"""The webhook deliveries' HTTP client against raw asyncio servers on real sockets: Content-Length,
chunked and close-delimited answers, only the head kept, keep-alive reuse, a kept connection the
receiver closed meanwhile, interim answers and garbage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from silverpay.jobs.webhook_http import HEAD_BYTES, StreamPoster, WebhookHttpError

Reply = Callable[[bytes, int], Awaitable[tuple[bytes, bool]]]  # (request, n) → (raw answer, close after)


@contextlib.asynccontextmanager
async def server(reply: Reply) -> AsyncIterator[tuple[str, list[int]]]:
    """A receiver answering each request with ``reply``; yields its URL and, per connection, how
    many requests it carried."""
    per_connection: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_connection.append(0)
        slot = len(per_connection) - 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
                body = await reader.readexactly(length)
                per_connection[slot] += 1
                raw, close = await reply(head + body, per_connection[slot])
                writer.write(raw)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}/hooks?x=1", per_connection


def fixed(raw: bytes, close: bool = False) -> Reply:
    async def reply(_: bytes, __: int) -> tuple[bytes, bool]:
        return raw, close

    return reply


async def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given() -> None:
    seen: list[bytes] = []

    async def reply(request: bytes, _: int) -> tuple[bytes, bool]:
        seen.append(request)
        return b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", False

    poster = StreamPoster()
    async with server(reply) as (url, connections):
        for _ in range(3):
            assert await poster.post(url, b'{"a":1}', {"X-Sig": "t=1"}) == (204, b"")
        await poster.aclose()
    assert connections == [3]
    assert seen[0].startswith(b"POST /hooks?x=1 HTTP/1.1\r\n") and b"\r\nX-Sig: t=1\r\n" in seen[0]
    assert seen[0].endswith(b'\r\n\r\n{"a":1}')


@pytest.mark.parametrize(
    ("raw", "status", "head", "kept"),
    [
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nnope", 500, b"nope", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 200, b"abcde",
         True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 200, b"ok", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 201, b"", True),
        (b"HTTP/1.1 413 Big\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000, 413, b"x" * HEAD_BYTES, False),
    ],
)  # fmt: skip
async def test_answers_are_read_and_connections_kept_only_when_read_whole(
    raw: bytes, status: int, head: bytes, kept: bool
) -> None:
    poster = StreamPoster()
    async with server(fixed(raw)) as (url, connections):
        assert await poster.post(url, b"{}", {}) == (status, head)
        assert await poster.post(url, b"{}", {}) == (status, head)
        await poster.aclose()
    assert connections == ([2] if kept else [1, 1])


async def test_close_delimited_answer() -> None:
    poster = StreamPoster()
    async with server(fixed(b"HTTP/1.0 200 OK\r\n\r\nhello", close=True)) as (url, connections):
        assert await poster.post(url, b"{}", {}) == (200, b"hello")
        assert await poster.post(url, b"{}", {}) == (200, b"hello")
    assert connections == [1, 1]


async def test_a_kept_connection_closed_by_the_receiver_is_replaced() -> None:
    async def reply(_: bytes, n: int) -> tuple[bytes, bool]:
        # keeps the connection open in the answer's headers, then closes it: the next request finds it dead
        return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True

    poster = StreamPoster()
    async with server(reply) as (url, connections):
        for _ in range(3):
            assert await poster.post(url, b"{}", {}) == (200, b"")
        await poster.aclose()
    assert connections == [1, 1, 1]


async def test_garbage_and_refused_connections_raise() -> None:
    poster = StreamPoster()
    async with server(fixed(b"SSH-2.0-OpenSSH\r\n\r\n", close=True)) as (url, _):
        with pytest.raises(WebhookHttpError):
            await poster.post(url, b"{}", {})
    with pytest.raises(OSError):
        await poster.post(url, b"{}", {})  # the server is gone
    with pytest.raises(WebhookHttpError):
        await poster.post("ftp://example.com/x", b"{}", {})
