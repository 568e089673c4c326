"""The merchant backend's side in tests: API keys made in-process and the payments API."""

from __future__ import annotations

import time
import uuid
from typing import Any

from silverpay.service import api_keys
from silverpay.service.context import ServiceContext
from tests.service_harness import Harness


def context(svc: Harness) -> ServiceContext:
    ctx: ServiceContext = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    return ctx


async def api_key(svc: Harness, name: str = "backend") -> dict[str, str]:
    """Authorization headers with a new API key."""
    _, secret = await api_keys.create_api_key(context(svc).sessions, name, now=time.time())
    return {"Authorization": f"Bearer {secret}"}


def payment_body(openid: str, amount_fen: int = 1500, **extra: Any) -> dict[str, Any]:
    return {"merchant_order_no": f"M-{uuid.uuid4().hex[:12]}", "amount_fen": amount_fen,
            "description": "Order from the merchant's backend", "openid": openid, **extra}  # fmt: skip
