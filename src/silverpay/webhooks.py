"""Signing and verifying silverpay's webhooks: the one module a Python receiver needs.

    Silverpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=…]

There is one ``v1`` per signing secret (two while a rotated secret is still valid). A receiver
checks the raw body (before any JSON parsing) against its secret::

    from silverpay.webhooks import verify, WebhookVerificationError

    def hooks(request):                       # any web framework: raw bytes + one header
        try:
            event = verify(request.body, request.headers["Silverpay-Signature"], WHSEC)
        except WebhookVerificationError:
            return 400
        if event["type"] == "order.paid":
            fulfil(event["data"]["object"]["merchant_order_no"])   # idempotently: at-least-once
        return 200

Only the standard library is used, so the module can be copied into a backend as is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

HEADER = "Silverpay-Signature"
DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(ValueError):
    """The header is missing or malformed, no signature matches, or the timestamp is too old."""


def _bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else payload


def signature(secret: str, timestamp: int, payload: bytes | str) -> str:
    """The hex ``v1`` of ``payload`` at ``timestamp`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + _bytes(payload)
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_header(payload: bytes | str, secrets: Sequence[str], timestamp: int) -> str:
    """The ``Silverpay-Signature`` value: one ``v1`` per secret, in the order given."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, payload)}" for s in secrets)])


def verify(
    payload: bytes | str, header: str | None, secret: str, tolerance_s: int = DEFAULT_TOLERANCE_S,
    *, now: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The event, if ``header`` signs ``payload`` (the raw body) under ``secret`` within
    ``tolerance_s`` of now; else :class:`WebhookVerificationError`. Comparisons are constant-time."""
    if not header:
        raise WebhookVerificationError("no Silverpay-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookVerificationError("malformed Silverpay-Signature header")
    expected = signature(secret, timestamp, payload)
    matched = False
    for candidate in candidates:  # every candidate compared: the time does not tell which matched
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("no signature matches the payload")
    current = time.time() if now is None else now
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance")
    event: dict[str, Any] = json.loads(_bytes(payload))
    return event
