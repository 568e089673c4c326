"""The service and the simulator in one process, wired through ASGI transports both ways:
the service calls WeChat (the simulator), the simulator POSTs notifications to the service.

``api="v3"`` runs both on WeChat Pay API v3: a merchant key pair and serial made for the test,
handed to the simulator as the merchant's public key and to the service as its private key; the
platform's public key (public-key mode) comes from the simulator, or certificates are downloaded."""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from starlette.types import Receive, Scope, Send

from silverpay.api.app import create_app
from silverpay.config import Settings
from silverpay.jobs.worker import Worker
from silverpay.sim.app import create_sim_app
from silverpay.sim.config import DEMO_ADMIN_TOKEN, DEMO_API_V3_KEY, DEMO_APPID, DEMO_MCH_ID, SimConfig
from silverpay.sim.platform import Platform
from silverpay.sim.simulator import Simulator
from silverpay.wechat.v3 import keys, notification, paysign
from silverpay.wechat.v3.signing import Signer, Verifier, nonce_str
from tests.sim_seed import sim_seed
from tests.waiting import eventually

SERVICE = "http://service.test"
WECHAT = "http://wechat.test"
MERCHANT_SERIAL = "5A1B0E9C4D3F2E1A0B9C8D7E6F5A4B3C2D1E0F9A"  # hex, the shape of a certificate serial
# v3 key modes: the platform's public key configured ("public_key"), none so certificates are
# downloaded ("certificate"), or both while the platform signs with either ("mixed").
KeyMode = Literal["public_key", "certificate", "mixed"]


@functools.cache
def merchant_key_pem() -> bytes:
    """One RSA key for every test merchant in a run: generating one costs ~0.1 s."""
    return keys.private_key_pem(keys.generate_private_key())


@functools.cache
def platform_key_pem() -> bytes:
    return keys.private_key_pem(keys.generate_private_key())


def merchant_public_key_pem() -> str:
    return keys.public_key_pem(keys.load_private_key(merchant_key_pem()).public_key()).decode()


def sim_config(api_version: str, *, time_scale: float, key_mode: KeyMode = "public_key") -> SimConfig:
    if api_version != "v3":
        return SimConfig.single(time_scale=time_scale, seed=sim_seed())
    return SimConfig.single(
        time_scale=time_scale, seed=sim_seed(), mch_serial=MERCHANT_SERIAL,
        mch_public_key_pem=merchant_public_key_pem(), platform_key_pem=platform_key_pem(), platform_mode=key_mode,
    )  # fmt: skip


def v3_overrides(sim: Simulator, key_mode: KeyMode = "public_key") -> dict[str, Any]:
    """Service settings for v3 against ``sim``: no files, PEM text in the settings."""
    platform = (
        {"wechat_public_key_pem": sim.platform.public_key_pem(), "wechat_public_key_id": sim.platform.public_key_id}
        if key_mode != "certificate"
        else {}
    )
    return {
        "wechat_api_version": "v3",
        "wechat_mch_serial": MERCHANT_SERIAL,
        "wechat_private_key_pem": merchant_key_pem().decode(),
        "notify_url": f"{SERVICE}/api/v1/wechat/v3/notify",
        **platform,
    }


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
async def running_harness(
    database_url: str, *, time_scale: float = 0.001, api_version: str = "v2", key_mode: KeyMode = "public_key",
    **overrides: Any,
) -> AsyncIterator[Harness]:  # fmt: skip
    holder: dict[str, Any] = {}

    async def service_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await holder["service"](scope, receive, send)

    notify_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=service_asgi), timeout=5)
    sim_app = create_sim_app(sim_config(api_version, time_scale=time_scale, key_mode=key_mode), http=notify_http)
    wechat_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), timeout=10)
    if api_version == "v3":
        overrides = {**v3_overrides(sim_app.state.sim, key_mode), **overrides}
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
        # A notification the test caused last (e.g. a push for its final upload) is let finish: cut
        # off inside the service, it could leave a database transaction open for the next test.
        with contextlib.suppress(AssertionError):
            await eventually(lambda: sim_app.state.sim.notifier.in_flight == 0)
    await wechat_http.aclose()


class V3Signing:
    """A merchant's side of the v3 wire, for tests that talk to the simulator without the service:
    signed request headers, and the platform keys that verify its answers."""

    def __init__(self, sim: Simulator, *, mchid: str = DEMO_MCH_ID, serial: str = MERCHANT_SERIAL) -> None:
        self.sim = sim
        self.mchid = mchid
        self.signer = Signer(serial, merchant_key_pem())
        self.verifier = Verifier({sim.platform.public_key_id: sim.platform.key.public_key(),
                                  sim.platform.serial: sim.platform.key.public_key()})  # fmt: skip

    def headers(
        self, method: str, url: str, body: bytes = b"", *, timestamp: int | None = None, nonce: str | None = None,
        serial: str | None = None,
    ) -> dict[str, str]:  # fmt: skip
        """``Authorization`` (and ``Wechatpay-Serial`` when ``serial`` names a platform key)."""
        auth = self.signer.authorization(mchid=self.mchid, method=method, url=url, body=body,
                                         timestamp=int(time.time()) if timestamp is None else timestamp,
                                         nonce=nonce or nonce_str())  # fmt: skip
        headers = {"Authorization": auth, "Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        if serial:
            headers["Wechatpay-Serial"] = serial
        return headers

    def verify(self, response: httpx.Response) -> str:
        """Check the platform's signature on an answer; returns the serial it was signed under."""
        return self.verifier.verify_response(response.headers, response.content, now=time.time()).serial

    def pay_params(self, prepay_id: str, *, appid: str = DEMO_APPID) -> dict[str, str]:
        key = keys.load_private_key(merchant_key_pem())
        params = paysign.pay_params(key, appid, prepay_id, time_stamp=str(int(time.time())), nonce_str=nonce_str())
        return dict(vars(params))


def v3_notification(
    platform: Platform, resource: dict[str, Any], *, event_type: str = "TRANSACTION.SUCCESS",
    original_type: str = "transaction", notification_id: str | None = None, serial: str | None = None,
    key: Any = None, api_v3_key: str = DEMO_API_V3_KEY, timestamp: int | None = None, nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:  # fmt: skip
    """A v3 notification as tests forge them: headers and body, genuine unless told otherwise."""
    body = notification.build_notification(
        resource, notification_id=notification_id or f"EV-{uuid.uuid4().hex[:20]}", event_type=event_type,
        summary="test", original_type=original_type, create_time=time.time(), api_v3_key=api_v3_key,
    )  # fmt: skip
    signer = Signer(serial or platform.public_key_id, key or platform.key)
    headers = signer.wechatpay_headers(body, timestamp=int(time.time()) if timestamp is None else timestamp,
                                       nonce=nonce or nonce_str())  # fmt: skip
    return {**headers, "Content-Type": "application/json"}, body
