"""The simulator and the service as separate processes on real sockets (sync httpx clients)."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from silverpay.sim.config import DEMO_ADMIN_TOKEN, DEMO_APPID
from tests.e2e.processes import Process, free_port, silverpay

ADMIN = {"Authorization": f"Bearer {DEMO_ADMIN_TOKEN}"}


@dataclass
class Stack:
    sim: Process
    services: list[Process]

    @property
    def api(self) -> str:
        return self.services[0].base_url

    def wx(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.sim.base_url + path, timeout=10, **kw)

    def call(self, method: str, path: str, *, service: int = 0, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.services[service].base_url + path, timeout=15, **kw)

    def login_code(self, user: str) -> dict[str, str]:
        response = self.wx("POST", "/sim/v1/login", json={"appid": DEMO_APPID, "user": user})
        response.raise_for_status()
        return dict(response.json())

    def shopper(self, user: str | None = None) -> tuple[dict[str, str], str]:
        """(auth headers, openid) of a freshly logged-in simulated user."""
        login = self.login_code(user or f"u-{uuid.uuid4().hex[:8]}")
        response = self.call("POST", "/api/v1/auth/wx-login", json={"code": login["code"]})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}, login["openid"]

    def product(self, price_fen: int = 2500) -> int:
        response = self.call("POST", "/api/v1/admin/products", json={"name": "e2e", "price_fen": price_fen},
                             headers=ADMIN)  # fmt: skip
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def order(self, auth: dict[str, str], price_fen: int = 2500) -> dict[str, Any]:
        response = self.call("POST", "/api/v1/orders", json={"product_id": self.product(price_fen)}, headers=auth)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def pay(self, auth: dict[str, str], openid: str, order_id: int, outcome: str = "success") -> httpx.Response:
        params = self.call("POST", f"/api/v1/orders/{order_id}/pay", headers=auth)
        assert params.status_code == 200, params.text
        sheet = {**params.json(), "appid": DEMO_APPID, "openid": openid, "outcome": outcome}
        return self.wx("POST", "/sim/v1/pay", json=sheet)

    def status(self, auth: dict[str, str], order_id: int) -> str:
        return str(self.call("GET", f"/api/v1/orders/{order_id}", headers=auth).json()["status"])

    def admin_order(self, order_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/admin/orders/{order_id}", headers=ADMIN).json())


def service_env(database_url: str, sim_url: str, port: int, jwt_secret: str, **extra: str) -> dict[str, str]:
    return {
        "SILVERPAY_DEMO_MODE": "1",
        "SILVERPAY_JWT_SECRET": jwt_secret,  # shared, so a token works on every process
        "SILVERPAY_DATABASE_URL": database_url,
        "SILVERPAY_WECHAT_PAY_BASE": sim_url,
        "SILVERPAY_WECHAT_LOGIN_BASE": sim_url,
        "SILVERPAY_NOTIFY_URL": f"http://127.0.0.1:{port}/api/v1/wechat/notify",
        **extra,
    }


@contextlib.contextmanager
def running_stack(database_url: str, log_dir: str, *, services: int = 1, **extra: str) -> Iterator[Stack]:
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(silverpay("sim", "--time-scale", "0.01", ready_path="/sim/v1/clock", log_dir=log_dir))
        processes = []
        jwt_secret = secrets.token_urlsafe(32)
        for _ in range(services):
            port = free_port()
            env = service_env(database_url, sim.base_url, port, jwt_secret, **extra)
            processes.append(
                stack.enter_context(silverpay("serve", ready_path="/healthz", log_dir=log_dir, env=env, port=port))
            )
        yield Stack(sim, processes)
