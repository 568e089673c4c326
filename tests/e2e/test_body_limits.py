"""Request bodies over a real socket: the size cap and the body-read timeout (api.limits).

The service runs under uvicorn in a thread on an ephemeral port, with a short body timeout; the
clients are raw sockets, so a body can be declared and never sent, or trickled a byte at a time.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import create_engine, text

from silverpay.api.app import create_app
from silverpay.api.limits import MAX_BODY_BYTES
from silverpay.wechat.v2 import xml
from tests import service_harness
from tests.e2e.processes import wait_for
from tests.service_harness import ADMIN

pytestmark = pytest.mark.e2e
TIMEOUT_S = 0.5  # the body-read timeout of the server under test


@contextlib.contextmanager
def serving(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """(port, database path) of the service under uvicorn in a thread."""
    database = tmp_path / "limits.db"
    app = create_app(service_harness.test_settings(f"sqlite+aiosqlite:///{database}"), body_timeout_s=TIMEOUT_S)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield port, str(database)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (Content-Length framed)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_declared_oversize_body_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    with serving(tmp_path) as (port, _), connect(port) as sock:
        # 10 MB declared, 2 bytes sent: the answer comes without waiting for the rest.
        declared = {"Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024)}
        sock.sendall(head("POST", "/api/v1/admin/products", declared) + b"{}")
        status, headers, body = read_response(sock)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert headers["connection"] == "close"


def test_streamed_oversize_body_is_refused_at_the_cap(tmp_path: Path) -> None:
    """Chunked, so no Content-Length to judge by: counted as it arrives."""
    with serving(tmp_path) as (port, _), connect(port) as sock:
        sock.sendall(head("POST", "/api/v1/orders", {"Content-Type": "application/json",
                                                     "Transfer-Encoding": "chunked"}))  # fmt: skip
        chunk = b"x" * 16384
        sent = 0
        with contextlib.suppress(OSError):  # the server may close while we are still sending
            while sent <= 4 * MAX_BODY_BYTES:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        status, _, body = read_response(sock)
    assert status == 413 and json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_body_within_the_cap_is_served(tmp_path: Path) -> None:
    with serving(tmp_path) as (port, _), connect(port) as sock:
        payload = json.dumps({"name": "n" * 100, "price_fen": 1}).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(payload)), **ADMIN}
        sock.sendall(head("POST", "/api/v1/admin/products", headers) + payload)
        status, _, body = read_response(sock)
    assert status == 201, body


def test_trickled_bodies_time_out_while_others_are_served(tmp_path: Path) -> None:
    """Slow clients, each trickling a JSON body a byte per 50 ms: every one gets a 408 once the
    body timeout has passed (long before its body would be complete), and a normal request sent
    in the middle of it is answered at once."""
    clients = 20
    declared = 200  # bytes: 10 s at this pace
    with serving(tmp_path) as (port, _):
        socks = [connect(port) for _ in range(clients)]
        selector = selectors.DefaultSelector()
        started = time.monotonic()
        for sock in socks:
            sock.sendall(head("POST", "/api/v1/admin/products", {"Content-Type": "application/json",
                                                                 "Content-Length": str(declared)}))  # fmt: skip
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        answered: dict[socket.socket, float] = {}
        healthz_s = None
        while len(answered) < clients and time.monotonic() - started < 5:
            for key, _ in selector.select(timeout=0.05):  # the trickle's pace
                answered[key.fileobj] = time.monotonic() - started  # type: ignore[index]
                selector.unregister(key.fileobj)
            for sock in socks:
                if sock not in answered:
                    with contextlib.suppress(OSError):
                        sock.send(b" ")
            if healthz_s is None and time.monotonic() - started > TIMEOUT_S / 2:
                t0 = time.monotonic()
                with connect(port) as probe:
                    probe.sendall(head("GET", "/healthz", {}))
                    assert read_response(probe)[0] == 200
                healthz_s = time.monotonic() - t0
        for sock in socks:
            sock.setblocking(True)
            status, headers, body = read_response(sock)
            assert status == 408 and json.loads(body)["error"]["code"] == "REQUEST_TIMEOUT"
            assert headers["connection"] == "close"
            sock.close()
    assert len(answered) == clients
    assert min(answered.values()) >= TIMEOUT_S * 0.9  # not before the deadline…
    assert max(answered.values()) < TIMEOUT_S + 2.0  # …and promptly after it, not when the body ends
    assert healthz_s is not None and healthz_s < 1.0


def test_oversize_notification_is_a_recorded_rejection_with_a_fail_reply(tmp_path: Path) -> None:
    """The WeChat endpoints keep their own reply: an XML FAIL (WeChat retries), and the rejection
    is recorded like any other unreadable notification."""
    with serving(tmp_path) as (port, database), connect(port) as sock:
        body = b"<xml><a>" + b"x" * MAX_BODY_BYTES + b"</a></xml>"
        sock.sendall(head("POST", "/api/v1/wechat/notify", {"Content-Type": "text/xml",
                                                            "Content-Length": str(len(body))}) + body)  # fmt: skip
        status, headers, reply = read_response(sock)
        assert status == 400 and headers["content-type"].startswith("text/xml")
        assert xml.decode(reply)["return_code"] == "FAIL"
        engine = create_engine(f"sqlite:///{database}")
        with engine.connect() as connection:
            recorded = connection.execute(
                text(
                    "SELECT sum(count) FROM rejected_notifications "
                    "WHERE kind = 'wechat.notify' AND code = 'XML_FORMAT_ERROR'"
                )
            ).scalar_one()
        engine.dispose()
    assert recorded == 1
