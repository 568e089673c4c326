"""The simulator and the service as separate processes on real sockets (sync httpx clients).

``api="v3"`` runs them on WeChat Pay API v3 with key files, as a real deployment would: the test
makes the merchant key pair and the platform key, the simulator gets the merchant certificate
serial and public key and the platform key, the service the merchant private key and the
platform's public key and id (read from the simulator). The simulator signs with either platform
name at random (``mixed``), so the service also downloads certificates: the switch between modes.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from silverpay.sim.config import DEMO_ADMIN_TOKEN, DEMO_APPID
from silverpay.sim.platform import Platform
from tests.e2e.processes import Process, free_port, silverpay
from tests.service_harness import MERCHANT_SERIAL, merchant_key_pem, merchant_public_key_pem, platform_key_pem

ADMIN = {"Authorization": f"Bearer {DEMO_ADMIN_TOKEN}"}


@dataclass
class V3Files:
    """Key files for a v3 stack, written under ``directory``."""

    directory: Path
    merchant_key: Path = field(init=False)
    merchant_public_key: Path = field(init=False)
    platform_key: Path = field(init=False)
    platform_public_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.merchant_key = self._write("apiclient_key.pem", merchant_key_pem().decode())
        self.merchant_public_key = self._write("apiclient_pub.pem", merchant_public_key_pem())
        self.platform_key = self._write("platform_key.pem", platform_key_pem().decode())
        self.platform_public_key = self.directory / "pub_key.pem"

    def _write(self, name: str, text: str) -> Path:
        path = self.directory / name
        path.write_text(text, encoding="ascii")
        return path

    def sim_args(self) -> tuple[str, ...]:
        return ("--mch-serial", MERCHANT_SERIAL, "--mch-cert", str(self.merchant_public_key),
                "--platform-key", str(self.platform_key), "--platform-mode", "mixed")  # fmt: skip

    def service_env(self, sim: Process) -> dict[str, str]:
        """The platform's public key comes from the simulator, as a merchant downloads it once."""
        platform = httpx.get(sim.base_url + "/sim/v1/platform", timeout=10).json()
        self.platform_public_key.write_text(platform["public_key_pem"], encoding="ascii")
        return {
            "SILVERPAY_WECHAT_API_VERSION": "v3",
            "SILVERPAY_WECHAT_MCH_SERIAL": MERCHANT_SERIAL,
            "SILVERPAY_WECHAT_PRIVATE_KEY_PATH": str(self.merchant_key),
            "SILVERPAY_WECHAT_PUBLIC_KEY_PATH": str(self.platform_public_key),
            "SILVERPAY_WECHAT_PUBLIC_KEY_ID": platform["public_key_id"],
        }


@dataclass
class Stack:
    sim: Process
    services: list[Process]
    api_version: str = "v2"

    @property
    def notify_path(self) -> str:
        return "/api/v1/wechat/v3/notify" if self.api_version == "v3" else "/api/v1/wechat/notify"

    @property
    def platform(self) -> Platform:
        """The simulator's platform names and key (derived from the key file it was given)."""
        return Platform.create(platform_key_pem())

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


def service_env(
    database_url: str, sim_url: str, port: int, jwt_secret: str, *, api_version: str = "v2", **extra: str
) -> dict[str, str]:
    notify = "/api/v1/wechat/v3/notify" if api_version == "v3" else "/api/v1/wechat/notify"
    return {
        "SILVERPAY_DEMO_MODE": "1",
        "SILVERPAY_JWT_SECRET": jwt_secret,  # shared, so a token works on every process
        "SILVERPAY_DATABASE_URL": database_url,
        "SILVERPAY_WECHAT_PAY_BASE": sim_url,
        "SILVERPAY_WECHAT_LOGIN_BASE": sim_url,
        "SILVERPAY_NOTIFY_URL": f"http://127.0.0.1:{port}{notify}",
        **extra,
    }


@contextlib.contextmanager
def running_stack(
    database_url: str, log_dir: str, *, services: int = 1, api_version: str = "v2", **extra: str
) -> Iterator[Stack]:
    with contextlib.ExitStack() as stack:
        files = V3Files(Path(log_dir) / "keys") if api_version == "v3" else None
        sim = stack.enter_context(silverpay("sim", "--time-scale", "0.01", *(files.sim_args() if files else ()),
                                            ready_path="/sim/v1/clock", log_dir=log_dir))  # fmt: skip
        v3_env = files.service_env(sim) if files else {}
        processes = []
        jwt_secret = secrets.token_urlsafe(32)
        for _ in range(services):
            port = free_port()
            env = service_env(database_url, sim.base_url, port, jwt_secret, api_version=api_version,
                              **v3_env, **extra)  # fmt: skip
            processes.append(
                stack.enter_context(silverpay("serve", ready_path="/healthz", log_dir=log_dir, env=env, port=port))
            )
        yield Stack(sim, processes, api_version)
