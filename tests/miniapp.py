"""Test-side helpers for the simulated mini-program platform: paid trades, tokens, raw calls."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from silverpay.sim.app import create_sim_app
from silverpay.sim.config import DEMO_APPID, DEMO_MCH_ID, DEMO_SECRET, SimConfig
from silverpay.wechat.miniapp.shipping import format_upload_time
from tests.conftest import FakeMerchant, SimHarness
from tests.sheet import payment_sheet
from tests.v2wire import call, order_params

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as the console makes them
PUSH_TOKEN = "pushtoken123"
PUSH_URL = "http://merchant.test/api/v1/wechat/mp-events"


@contextlib.asynccontextmanager
async def sim_harness(config: SimConfig) -> AsyncIterator[SimHarness]:
    """What the ``harness`` fixture gives, for a test that needs its own configuration."""
    merchant = FakeMerchant()
    app = create_sim_app(config, http=httpx.AsyncClient(transport=httpx.MockTransport(merchant.handle)))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        yield SimHarness(app.state.sim, client, merchant)


@dataclass(frozen=True)
class Paid:
    out_trade_no: str
    transaction_id: str
    openid: str
    amount_fen: int


async def pay_order(h: SimHarness, user: str = "alice", amount_fen: int = 1000) -> Paid:
    """unifiedorder, then the buyer pays through the payment sheet (as a real payment happens)."""
    login = await h.login(user)
    out_trade_no = "S" + secrets.token_hex(8)
    answer = await call(h.client, "/pay/unifiedorder", order_params(out_trade_no, login["openid"], amount_fen))
    assert answer["result_code"] == "SUCCESS", answer
    paid = await h.client.post("/sim/v1/pay", json=payment_sheet(answer["prepay_id"], login["openid"]))
    assert paid.status_code == 200, paid.text
    return Paid(out_trade_no, paid.json()["transaction_id"], login["openid"], amount_fen)


async def seed_paid(h: SimHarness, openid: str = "o-seeded-buyer", amount_fen: int = 500, **extra: Any) -> Paid:
    """A paid trade put straight into the state (no reminder is registered for it)."""
    out_trade_no = "D" + secrets.token_hex(8)
    item = {"out_trade_no": out_trade_no, "amount_fen": amount_fen, "openid": openid, "state": "SUCCESS", **extra}
    response = await h.client.post("/sim/v1/trades:seed", json={"trades": [item]})
    assert response.status_code == 201, response.text
    return Paid(out_trade_no, response.json()["trades"][0]["transaction_id"], openid, amount_fen)


async def stable_token(
    client: httpx.AsyncClient, *, force: bool | None = None, appid: str = DEMO_APPID, secret: str = DEMO_SECRET
) -> dict[str, Any]:
    body: dict[str, Any] = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    if force is not None:
        body["force_refresh"] = force
    response = await client.post("/cgi-bin/stable_token", json=body)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def token(h: SimHarness) -> str:
    return str((await stable_token(h.client))["access_token"])


async def order_api(h: SimHarness, name: str, body: Any, access_token: str) -> dict[str, Any]:
    response = await h.client.post(f"/wxa/sec/order/{name}", params={"access_token": access_token}, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()  # type: ignore[no-any-return]


def upload_body(paid: Paid, *, at: float, by: str = "transaction", **overrides: Any) -> dict[str, Any]:
    """A valid express upload for ``paid``; ``overrides`` replace top-level fields."""
    key: dict[str, Any] = (
        {"order_number_type": 2, "transaction_id": paid.transaction_id}
        if by == "transaction"
        else {"order_number_type": 1, "mchid": DEMO_MCH_ID, "out_trade_no": paid.out_trade_no}
    )
    body: dict[str, Any] = {
        "order_key": key,
        "logistics_type": 1,
        "delivery_mode": 1,
        "shipping_list": [{"tracking_no": "YT1234567890", "express_company": "YTO", "item_desc": "微信红包抱枕*1个"}],
        "upload_time": format_upload_time(at),
        "payer": {"openid": paid.openid},
    }
    body.update(overrides)
    return body


async def set_push(h: SimHarness, *, mode: str = "plain", fmt: str = "json", url: str = PUSH_URL) -> None:
    settings = {"url": url, "token": PUSH_TOKEN, "mode": mode, "format": fmt}
    if mode == "safe":
        settings["aes_key"] = AES_KEY
    response = await h.client.put(f"/sim/v1/apps/{DEMO_APPID}/push", json=settings)
    assert response.status_code == 200, response.text


def pushes(h: SimHarness) -> list[httpx.Request]:
    """The pushes the merchant's push URL received (payment notifications go elsewhere)."""
    return [r for r in h.merchant.requests if r.url.path == httpx.URL(PUSH_URL).path]


def acknowledge_pushes(h: SimHarness, body: bytes = b"success", status: int = 200) -> None:
    """The push URL answers ``body`` (WeChat wants ``success`` or nothing); other URLs as before."""
    other = h.merchant.reply
    path = httpx.URL(PUSH_URL).path

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body) if request.url.path == path else other(request)

    h.merchant.reply = reply
