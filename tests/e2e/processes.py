"""Run silverpay commands as real processes on real sockets, and a stdlib notify receiver."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.sim_seed import sim_seed

SUCCESS_REPLY = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


@contextlib.contextmanager
def silverpay(
    *args: str, ready_path: str, log_dir: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[Process]:
    """Start `python -m silverpay ARGS --port P`; yield once GET ready_path answers; stop on exit.
    A simulator rolls its fault dice from the run's seed (``--seed``)."""
    port = port or free_port()
    if args[0] == "sim":
        args = (*args, "--seed", str(sim_seed()))
    log_path = os.path.join(log_dir, f"silverpay-{args[0]}-{port}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "silverpay", *args, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    process = Process(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"silverpay {args[0]} exited early:\n{process.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(process.base_url + ready_path, timeout=1).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"silverpay {args[0]} did not become ready:\n{process.log()}")
            time.sleep(0.05)
        yield process
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Receiver:
    """A merchant notify URL on a real socket: records every request, answers ``status`` and ``reply``
    (v2 wants the SUCCESS XML with a 200, v3 an empty 204)."""

    url: str = ""
    reply: bytes = SUCCESS_REPLY
    status: int = 200
    bodies: list[bytes] = field(default_factory=list)
    received: list[tuple[Message, bytes]] = field(default_factory=list)  # (headers, body)


@contextlib.contextmanager
def notify_receiver(*, status: int = 200, reply: bytes = SUCCESS_REPLY) -> Iterator[Receiver]:
    receiver = Receiver(reply=reply, status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.bodies.append(body)
            receiver.received.append((self.headers, body))
            self.send_response(receiver.status)
            if receiver.reply:
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(receiver.reply)))
            self.end_headers()
            self.wfile.write(receiver.reply)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/wechat/notify"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def wait_for(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
