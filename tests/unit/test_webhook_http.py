"""The webhook deliveries' HTTP client against raw asyncio servers on real sockets, over plain TCP
and over TLS (a self-signed certificate the client is told to trust): Content-Length, chunked and
close-delimited answers, only the head kept, too-long answers, keep-alive reuse, a kept connection
the receiver closed meanwhile, interim answers, garbage, and requests that could inject a header."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from silverpay.jobs.webhook_http import HEAD_BYTES, StreamPoster, WebhookHttpError

Reply = Callable[[bytes, int], Awaitable[tuple[bytes, bool]]]  # (request, n) → (raw answer, close after)


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext  # trusts the server's self-signed certificate, and nothing else


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for 127.0.0.1 and localhost, made now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook receiver")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1)).add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = Path(tmp_path_factory.mktemp("tls"))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))  # fmt: skip
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return Tls(server_context, ssl.create_default_context(cadata=pem.decode()))


@contextlib.asynccontextmanager
async def server(reply: Reply, tls: Tls | None = None) -> AsyncIterator[tuple[str, list[int]]]:
    """A receiver answering each request with ``reply`` (over TLS when given); yields its URL and,
    per connection, how many requests it carried."""
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
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls.server if tls else None)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/hooks?x=1", per_connection


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
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + (b"1000\r\n" + b"y" * 4096 + b"\r\n") * 17
         + b"0\r\n\r\n", 200, b"y" * HEAD_BYTES, False),  # 68 KiB: past DRAIN_LIMIT
        (b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok", True),
    ],
)  # fmt: skip
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_answers_are_read_and_connections_kept_only_when_read_whole(
    raw: bytes, status: int, head: bytes, kept: bool, scheme: str, tls: Tls
) -> None:
    poster = StreamPoster(ssl_context=tls.client)
    async with server(fixed(raw), tls if scheme == "https" else None) as (url, connections):
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


async def test_https_keeps_alive_and_verifies_the_certificate(tls: Tls) -> None:
    poster = StreamPoster(ssl_context=tls.client)
    async with server(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), tls) as (url, connections):
        for _ in range(3):
            assert await poster.post(url, b"{}", {"X-Sig": "t=1"}) == (200, b"ok")
        await poster.aclose()
        untrusting = StreamPoster()  # the system's roots: a self-signed certificate is refused
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post(url, b"{}", {})
        await untrusting.aclose()
    assert connections[0] == 3


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 " + b"x" * 70000 + b"\r\n\r\n",  # a line past the stream's limit
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",  # no chunk size
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",  # an interim answer and then nothing
        b"".join(b"X-%d: y\r\n" % i for i in range(200)),  # no status line at all
    ],
)
async def test_garbage_answers_raise_webhook_http_errors(raw: bytes, tls: Tls) -> None:
    poster = StreamPoster(ssl_context=tls.client)
    for receiver in (None, tls):
        async with server(fixed(raw, close=True), receiver) as (url, _):
            with pytest.raises(WebhookHttpError):
                await poster.post(url, b"{}", {})
    await poster.aclose()


@pytest.mark.parametrize(
    ("url_tail", "headers"),
    [
        ("/hooks", {"X-Sig": "t=1\r\nX-Injected: 1"}),
        ("/hooks", {"X-Sig": "t=1\nX-Injected: 1"}),
        ("/hooks", {"X-Injected: 1\r\nX-Sig": "t=1"}),
        ("/hooks", {"X-Sig": "t=1\x00"}),
        ("/hooks HTTP/1.1\r\nX-Injected: 1\r\n\r\nPOST /x", {}),  # urlsplit drops CR LF; the spaces stay
        ("/a b", {}),
    ],
)
async def test_nothing_can_inject_a_header(url_tail: str, headers: dict[str, str]) -> None:
    seen: list[bytes] = []

    async def reply(request: bytes, _: int) -> tuple[bytes, bool]:
        seen.append(request)
        return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False

    poster = StreamPoster()
    async with server(reply) as (url, connections):
        base = url.split("/hooks")[0]
        with pytest.raises(WebhookHttpError):
            await poster.post(base + url_tail, b"{}", headers)
        await poster.aclose()
    assert seen == [] and connections == []  # refused before a connection was made
