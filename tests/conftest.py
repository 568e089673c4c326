"""Shared fixtures: the simulator in-process (ASGI transport) with a fake merchant behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from silverpay.sim.app import create_sim_app
from silverpay.sim.config import DEMO_APPID, SimConfig
from silverpay.sim.simulator import Simulator
from silverpay.wechat.v2 import xml
from tests.service_harness import Harness, running_harness
from tests.sim_seed import choose, sim_seed

pytest_plugins = ["tests.databases", "tests.cli_env", "tests.worker_groups"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sim-seed", type=int, default=None, metavar="N",
        help="seed of the simulators' fault injection (default: drawn per run, printed in the header)",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", None)  # a pytest-xdist worker: the controller chose
    choose(worker["sim_seed"] if worker else config.option.sim_seed)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker takes the controller's seed."""
    node.workerinput["sim_seed"] = sim_seed()


def pytest_report_header(config: pytest.Config) -> str:
    return f"simulator seed: {sim_seed()} (replay: pytest --sim-seed {sim_seed()})"


SUCCESS_REPLY = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


@dataclass
class FakeMerchant:
    """The merchant's notify URL, as an httpx transport: records what arrives, answers as told.

    ``received`` holds v2 (XML) bodies decoded; ``requests`` every request as it arrived (v3
    notifications are JSON with their signature in the headers)."""

    reply: Callable[[httpx.Request], httpx.Response] = lambda _: httpx.Response(200, text=SUCCESS_REPLY)
    received: list[dict[str, str]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not request.headers.get("content-type", "").startswith("application/json"):
            self.received.append(xml.decode(request.content))
        return self.reply(request)


@dataclass
class SimHarness:
    sim: Simulator
    client: httpx.AsyncClient
    merchant: FakeMerchant

    async def login(self, user: str = "alice", appid: str = DEMO_APPID) -> dict[str, str]:
        response = await self.client.post("/sim/v1/login", json={"appid": appid, "user": user})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def sim_config(tmp_path) -> SimConfig:  # type: ignore[no-untyped-def]
    return SimConfig.single(time_scale=0.001, seed=sim_seed())


@pytest.fixture
async def harness(sim_config: SimConfig) -> AsyncIterator[SimHarness]:
    merchant = FakeMerchant()
    notify_http = httpx.AsyncClient(transport=httpx.MockTransport(merchant.handle))
    app = create_sim_app(sim_config, http=notify_http)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
            yield SimHarness(app.state.sim, client, merchant)


@pytest.fixture
async def svc(database_url: str) -> AsyncIterator[Harness]:
    """The service and the simulator in-process, on each database backend."""
    async with running_harness(database_url) as h:
        yield h
