"""The stable_token client and the in-process token cache, against the in-process simulator."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from silverpay.errors import UpstreamMisconfigured, UpstreamRejected, UpstreamUnavailable
from silverpay.sim.config import DEMO_APPID, DEMO_SECRET
from silverpay.wechat.miniapp.token import AccessToken, CachedTokenProvider, stable_token
from tests.conftest import SimHarness
from tests.miniapp import order_api

BASE = "http://sim.test"


async def test_stable_token(harness: SimHarness) -> None:
    token = await stable_token(harness.client, BASE, DEMO_APPID, DEMO_SECRET)
    assert isinstance(token, AccessToken) and token.expires_in == 7200 and len(token.value) > 100
    assert token.value not in repr(token)
    again = await stable_token(harness.client, BASE + "/", DEMO_APPID, DEMO_SECRET)
    assert again.value == token.value  # normal mode: the same token
    forced = await stable_token(harness.client, BASE, DEMO_APPID, DEMO_SECRET, force_refresh=True)
    assert forced.value != token.value  # only when asked explicitly


async def test_credential_errors_are_misconfiguration(harness: SimHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    with pytest.raises(UpstreamMisconfigured) as wrong_secret:
        await stable_token(harness.client, BASE, DEMO_APPID, "not-the-secret-0000000000000000")
    assert "40125" in wrong_secret.value.message and "not-the-secret" not in wrong_secret.value.message
    with pytest.raises(UpstreamMisconfigured, match="40013"):
        await stable_token(harness.client, BASE, "wxunknown", DEMO_SECRET)
    assert "stable_token refused our credentials: errcode=40125" in caplog.text
    assert "HTTP Request: POST http://sim.test/cgi-bin/stable_token" in caplog.text
    assert DEMO_SECRET not in caplog.text and "not-the-secret" not in caplog.text


async def test_quota_is_unavailable_not_a_failure(harness: SimHarness) -> None:
    for _ in range(20):
        await stable_token(harness.client, BASE, DEMO_APPID, DEMO_SECRET, force_refresh=True)
        await harness.client.post("/sim/v1/clock", json={"advance_s": 31})
    with pytest.raises(UpstreamUnavailable, match="45009"):
        await stable_token(harness.client, BASE, DEMO_APPID, DEMO_SECRET, force_refresh=True)


async def test_unreadable_and_unreachable() -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(UpstreamUnavailable, match="unreachable"):
            await stable_token(http, "http://127.0.0.1:9", DEMO_APPID, DEMO_SECRET)  # discard port: refused

    def answer(status: int, body: bytes) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(status, content=body)))

    cases = [(502, b"<html>bad gateway</html>"), (200, b"<html>portal</html>"), (200, b"[]"), (200, b'{"errcode":"x"}'),
             (200, b'{"access_token":"t"}'), (200, b'{"access_token":"t","expires_in":true}')]  # fmt: skip
    for status, body in cases:
        async with answer(status, body) as http:
            with pytest.raises(UpstreamUnavailable):
                await stable_token(http, BASE, DEMO_APPID, DEMO_SECRET)
    async with answer(200, b'{"errcode":40164,"errmsg":"invalid ip"}') as http:
        with pytest.raises(UpstreamMisconfigured):
            await stable_token(http, BASE, DEMO_APPID, DEMO_SECRET)
    async with answer(200, b'{"errcode":48001,"errmsg":"api unauthorized"}') as http:
        with pytest.raises(UpstreamRejected) as other:
            await stable_token(http, BASE, DEMO_APPID, DEMO_SECRET)
        assert other.value.upstream_code == "48001"


async def test_cache_shares_one_fetch_and_refetches_when_told(harness: SimHarness) -> None:
    now = [1000.0]
    provider = CachedTokenProvider(harness.client, BASE, DEMO_APPID, DEMO_SECRET, clock=lambda: now[0])
    assert DEMO_SECRET not in repr(provider)
    tokens = await asyncio.gather(*(provider(False) for _ in range(10)))
    assert len(set(tokens)) == 1 and provider.fetches == 1
    assert (await order_api(harness, "is_trade_managed", {"appid": DEMO_APPID}, tokens[0]))["errcode"] == 0
    assert await provider(True) == tokens[0] and provider.fetches == 2  # normal mode: WeChat's same token
    now[0] += 6000
    assert await provider(False) == tokens[0] and provider.fetches == 2  # still fresh
    now[0] += 1000  # within 5 minutes of its end
    await harness.client.post("/sim/v1/clock", json={"advance_s": 7200 - 299})
    renewed = await provider(False)
    assert provider.fetches == 3 and renewed != tokens[0]  # WeChat renewed it in its last 5 minutes
