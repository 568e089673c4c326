"""Nothing secret reaches the logs, even at DEBUG, across login, pay, notification, refund."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from silverpay.logs import HTTP_LOGGERS, configure
from silverpay.sim.config import DEMO_API_KEY, DEMO_SECRET
from silverpay.store.models import User
from tests.notify_bodies import notification
from tests.service_harness import Harness


async def test_flow_logs_no_secrets(svc: Harness, caplog: pytest.LogCaptureFixture) -> None:
    configure("DEBUG")
    caplog.set_level(logging.DEBUG)
    alice = await svc.shopper()
    order = await svc.order(alice, price_fen=500)
    await svc.pay_params(alice, order["id"])
    await svc.api.post("/api/v1/wechat/notify", content=notification(order["out_trade_no"], 1))  # flagged
    await svc.api.post("/api/v1/wechat/notify", content=notification(order["out_trade_no"], 500, key="0" * 32))
    await svc.api.post("/api/v1/wechat/notify", content=notification(order["out_trade_no"], 500))
    await svc.refund(order["id"], 100)
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions() as db:
        session_key = (await db.execute(select(User.session_key).where(User.id == alice.user_id))).scalar_one()
    logged = caplog.text
    assert "notification rejected" in logged  # the logs did capture the flow
    for secret in (DEMO_API_KEY, DEMO_SECRET, session_key, alice.token, svc.settings.jwt_secret.get_secret_value()):
        assert secret and secret not in logged


async def test_login_secret_redacted_without_silverpay_logging(svc: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """As under uvicorn or gunicorn: the root logger at DEBUG, silverpay's own configure() never
    called, so httpx logs every request URL at INFO — jscode2session's carries the AppSecret.
    The filter the LoginClient installed redacts it and keeps the rest of the URL."""
    caplog.set_level(logging.DEBUG)
    for name in HTTP_LOGGERS:  # undo any quieting an earlier test's configure() left behind
        caplog.set_level(logging.DEBUG, logger=name)
    await svc.shopper()
    messages = [record.getMessage() for record in caplog.records]
    logged_urls = [m for m in messages if "/sns/jscode2session" in m]
    assert logged_urls, "httpx did not log the login request: nothing was checked"
    assert all("secret=[redacted]" in m and "appid=" in m for m in logged_urls)
    assert not [m for m in messages if DEMO_SECRET in m]
    assert DEMO_SECRET not in caplog.text
