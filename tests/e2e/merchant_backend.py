"""A small merchant backend on a real socket, as a merchant would write one: it creates payments
through silverpay's payments API with its API key and receives webhooks, verifying each with
:func:`silverpay.webhooks.verify` (unverified deliveries are answered 400 and not recorded)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from silverpay.webhooks import WebhookVerificationError, verify


@dataclass
class Backend:
    api_base: str
    api_key: str
    url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # path → whsec
    verified: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path → events
    refused: int = 0
    arrivals: int = 0
    hold: threading.Event | None = None  # set: the first delivery waits on it before answering

    def checkout(self, openid: str, merchant_order_no: str, amount_fen: int) -> dict[str, Any]:
        """What the backend does when its mini-program checks out: create the payment, get pay params."""
        auth = {"Authorization": f"Bearer {self.api_key}"}
        body = {"merchant_order_no": merchant_order_no, "amount_fen": amount_fen, "description": "e2e",
                "openid": openid}  # fmt: skip
        payment = httpx.post(f"{self.api_base}/api/v1/payments", json=body, headers=auth, timeout=15)
        payment.raise_for_status()
        params = httpx.post(f"{self.api_base}/api/v1/payments/{payment.json()['id']}/pay-params", headers=auth,
                            timeout=15)  # fmt: skip
        params.raise_for_status()
        return {"payment": payment.json(), "params": params.json()}


@contextlib.contextmanager
def merchant_backend(api_base: str, api_key: str) -> Iterator[Backend]:
    backend = Backend(api_base, api_key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            backend.arrivals += 1
            if backend.hold is not None and backend.arrivals == 1:
                backend.hold.wait(30)
            try:
                event = verify(raw, self.headers.get("Silverpay-Signature"), backend.secrets.get(self.path, ""))
            except WebhookVerificationError:
                backend.refused += 1
                self._answer(400, {"error": "signature"})
                return
            backend.verified.setdefault(self.path, []).append(event)
            self._answer(200, {"received": event["id"]})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            with contextlib.suppress(OSError):  # the sender may be gone (a killed worker)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    backend.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        if backend.hold is not None:
            backend.hold.set()
        server.shutdown()
        server.server_close()
