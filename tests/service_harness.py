"""The service and the simulator in one process, wired through ASGI transports both ways:
the service calls WeChat (the simulator), the simulator POSTs notifications to the service."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from silverpay.api.app import create_app
from silverpay.config import Settings
from silverpay.jobs.worker import Worker
from silverpay.sim.app import create_sim_app
from silverpay.sim.config import DEMO_ADMIN_TOKEN, DEMO_APPID, SimConfig
from silverpay.sim.simulator import Simulator

SERVICE = "http://service.test"
WECHAT = "http://wechat.test"


class OffsetClock:
    """The service's clock: wall time plus an offset the test moves (in step with the simulator's)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Shopper:
    token: str
    openid: str
    user_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Harness:
    api: httpx.AsyncClient
    wx: httpx.AsyncClient
    sim: Simulator
    clock: OffsetClock
    settings: Settings

    async def advance(self, seconds: float) -> None:
        """Move both clocks: the service's and WeChat's."""
        self.clock.offset += seconds
        (await self.wx.post("/sim/v1/clock", json={"advance_s": seconds})).raise_for_status()

    def worker(self) -> Worker:
        ctx = self.api._transport.app.state.ctx  # type: ignore[attr-defined]
        return Worker(ctx, concurrency=8, rate_per_s=1000)

    async def refund(self, order_id: int, amount_fen: int, **headers: str) -> httpx.Response:
        return await self.api.post(f"/api/v1/admin/orders/{order_id}/refunds", json={"amount_fen": amount_fen},
                                   headers={**ADMIN, **headers})  # fmt: skip

    async def faults(self, **faults: Any) -> None:
        (await self.wx.put("/sim/v1/faults", json=faults)).raise_for_status()

    async def shopper(self, name: str | None = None) -> Shopper:
        name = name or f"user-{uuid.uuid4().hex[:8]}"
        login = (await self.wx.post("/sim/v1/login", json={"appid": DEMO_APPID, "user": name})).json()
        response = await self.api.post("/api/v1/auth/wx-login", json={"code": login["code"], "nickname": name})
        assert response.status_code == 200, response.text
        body = response.json()
        return Shopper(body["token"], login["openid"], body["user"]["id"])

    async def product_id(self, price_fen: int = 1234) -> int:
        response = await self.api.post(
            "/api/v1/admin/products", json={"name": f"p{price_fen}", "price_fen": price_fen}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def order(self, shopper: Shopper, quantity: int = 1, price_fen: int = 1234) -> dict[str, Any]:
        body = {"product_id": await self.product_id(price_fen), "quantity": quantity}
        response = await self.api.post("/api/v1/orders", json=body, headers=shopper.auth)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def pay_params(self, shopper: Shopper, order_id: int) -> dict[str, str]:
        response = await self.api.post(f"/api/v1/orders/{order_id}/pay", headers=shopper.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wechat_pay(self, shopper: Shopper, params: dict[str, str], outcome: str = "success") -> httpx.Response:
        sheet = {**params, "appid": DEMO_APPID, "openid": shopper.openid, "outcome": outcome}
        return await self.wx.post("/sim/v1/pay", json=sheet)

    async def paid_order(self, shopper: Shopper, **kw: Any) -> dict[str, Any]:
        """An order paid at WeChat (whether the service has heard of it yet depends on faults)."""
        order = await self.order(shopper, **kw)
        response = await self.wechat_pay(shopper, await self.pay_params(shopper, order["id"]))
        assert response.status_code == 200, response.text
        return order

    async def get(self, shopper: Shopper, order_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/api/v1/orders/{order_id}", headers=shopper.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def admin_order(self, order_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/api/v1/admin/orders/{order_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        return dict(response.json())


ADMIN = {"Authorization": f"Bearer {DEMO_ADMIN_TOKEN}"}


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "demo_mode": True,
        "database_url": database_url,
        "wechat_pay_base": WECHAT,
        "wechat_login_base": WECHAT,
        "notify_url": f"{SERVICE}/api/v1/wechat/notify",
        "order_ttl_s": 7 * 86400,
        "token_ttl_s": 30 * 86400,  # tests move the clock by hours
        "embedded_worker": False,  # tests run the worker explicitly, one pass at a time
        **overrides,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_harness(database_url: str, *, time_scale: float = 0.001, **overrides: Any) -> AsyncIterator[Harness]:
    holder: dict[str, Any] = {}

    async def service_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await holder["service"](scope, receive, send)

    notify_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=service_asgi), timeout=5)
    sim_app = create_sim_app(SimConfig.single(time_scale=time_scale), http=notify_http)
    wechat_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), timeout=10)
    settings = test_settings(database_url, **overrides)
    clock = OffsetClock()
    service = create_app(settings, http=wechat_http, clock=clock)
    holder["service"] = service
    # The simulator stops first: its in-flight notifications run inside the service's app.
    async with (
        service.router.lifespan_context(service),
        sim_app.router.lifespan_context(sim_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=SERVICE) as api,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url=WECHAT) as wx,
    ):
        yield Harness(api, wx, sim_app.state.sim, clock, settings)
    await wechat_http.aclose()
