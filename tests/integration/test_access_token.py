"""The shared access_token (service/access_token.py): one per appid in the database, renewed by one
process at a time, on every backend, against the simulator's getStableAccessToken."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from silverpay.service.access_token import REFRESH_BEFORE_S, DatabaseTokenProvider
from silverpay.sim.config import DEMO_APPID, DEMO_SECRET
from silverpay.sim.mp.tokens import TOKEN_TTL_S
from silverpay.store.db import create_engine, session_factory
from silverpay.store.models_shipping import WechatAccessToken
from silverpay.wechat.miniapp.shipping import ShippingClient
from tests.conftest import SimHarness
from tests.miniapp import stable_token


class SimClock:
    """The simulator's clock, read (the providers' clock must agree with WeChat's)."""

    def __init__(self, harness: SimHarness) -> None:
        self.harness = harness

    def __call__(self) -> float:
        return float(self.harness.sim.clock.now())


@contextlib.asynccontextmanager
async def process(database_url: str, harness: SimHarness, fetched: list[str]) -> AsyncIterator[DatabaseTokenProvider]:
    """What one service process holds: its own engine (connections) and HTTP client."""

    async def count(request: httpx.Request) -> None:
        if request.url.path.endswith("/stable_token"):
            fetched.append(request.url.path)
            await asyncio.sleep(0)  # let the other process run while this fetch is in flight

    engine = create_engine(database_url)
    http = httpx.AsyncClient(transport=harness.client._transport, base_url="http://sim.test",
                             event_hooks={"request": [count]})  # fmt: skip
    try:
        yield DatabaseTokenProvider(session_factory(engine), http, "http://sim.test", DEMO_APPID, DEMO_SECRET,
                                    clock=SimClock(harness))  # fmt: skip
    finally:
        await http.aclose()
        await engine.dispose()


async def row(database_url: str) -> WechatAccessToken:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as db:
            found = await db.get(WechatAccessToken, DEMO_APPID)
            assert found is not None
            return found
    finally:
        await engine.dispose()


async def test_two_processes_renewing_at_once_end_with_one_token(database_url: str, harness: SimHarness) -> None:
    fetched: list[str] = []
    async with process(database_url, harness, fetched) as a, process(database_url, harness, fetched) as b:
        first = await asyncio.gather(a(), b(), a(), b())
        assert len(set(first)) == 1 and len(fetched) == 1
        assert (await row(database_url)).fetches == 1

        # Near expiry (inside WeChat's renewal window) both want a new one at once: one fetch, one token.
        await harness.client.post("/sim/v1/clock", json={"advance_s": TOKEN_TTL_S - REFRESH_BEFORE_S + 5})
        second = await asyncio.gather(a(), b())
        assert len(fetched) == 2 and (await row(database_url)).fetches == 2
        renewed = (await row(database_url)).value
        assert renewed != first[0] and renewed in second
        # One waited for nothing: the old token still works for its last minutes (WeChat's overlap).
        assert set(second) <= {first[0], renewed}
        # From now on both use the stored token: no fetch.
        assert await a() == await b() == renewed and len(fetched) == 2


async def test_a_refused_token_is_renewed_once_and_the_call_retried(database_url: str, harness: SimHarness) -> None:
    fetched: list[str] = []
    async with process(database_url, harness, fetched) as a, process(database_url, harness, fetched) as b:
        old = await a()
        assert await b() == old and len(fetched) == 1
        # Someone force-refreshed (a leak): the stored token is now refused with 40001.
        await stable_token(harness.client, force=True)
        client = ShippingClient(a._http, "http://sim.test", a)
        assert await client.is_trade_managed(DEMO_APPID) is True
        assert len(fetched) == 2
        renewed = await a()
        assert renewed != old
        # The other process, refused too, finds the renewed token in the database: no fetch.
        assert await b(True) == renewed and len(fetched) == 2
        stored = await row(database_url)
        assert stored.value == renewed and stored.lease_until is None


async def test_a_failed_fetch_gives_the_lease_back(database_url: str, harness: SimHarness) -> None:
    fetched: list[str] = []
    async with process(database_url, harness, fetched) as a:
        a._secret = "wrong-secret-wrong-secret-wrong0"  # type: ignore[attr-defined]
        with pytest.raises(Exception) as refused:
            await a()
        assert "wrong-secret" not in str(refused.value)
        assert (await row(database_url)).lease_until is None
        a._secret = DEMO_SECRET  # type: ignore[attr-defined]
        assert await a()
