"""The simulator's access tokens: getStableAccessToken's rules, and the legacy getAccessToken's."""

from __future__ import annotations

import pytest

from silverpay.sim.config import DEMO_APPID, DEMO_SECRET
from silverpay.sim.mp.tokens import FORCE_MIN_GAP_S, FORCE_PER_DAY, RENEW_BEFORE_S, TOKEN_TTL_S
from tests.conftest import SimHarness
from tests.miniapp import order_api, stable_token


async def advance(h: SimHarness, seconds: float) -> None:
    assert (await h.client.post("/sim/v1/clock", json={"advance_s": seconds})).status_code == 200


async def works(h: SimHarness, access_token: str) -> int:
    """The errcode is_trade_managed answers with this token (0: the token works)."""
    return int((await order_api(h, "is_trade_managed", {"appid": DEMO_APPID}, access_token)).get("errcode", 0))


async def test_normal_mode_answers_the_same_token_until_its_last_five_minutes(harness: SimHarness) -> None:
    first = await stable_token(harness.client)
    assert set(first) == {"access_token", "expires_in"} and first["expires_in"] == TOKEN_TTL_S
    assert len(first["access_token"]) > 100
    await advance(harness, 1000)
    again = await stable_token(harness.client, force=False)
    assert again["access_token"] == first["access_token"]
    assert TOKEN_TTL_S - 1001 <= again["expires_in"] <= TOKEN_TTL_S - 1000

    # In the last five minutes: a new token, and the old one keeps working until it expires.
    await advance(harness, TOKEN_TTL_S - 1000 - RENEW_BEFORE_S + 10)
    renewed = await stable_token(harness.client)
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == TOKEN_TTL_S
    assert await works(harness, first["access_token"]) == 0
    assert await works(harness, renewed["access_token"]) == 0
    await advance(harness, RENEW_BEFORE_S)
    assert await works(harness, first["access_token"]) == 42001  # expired
    assert await works(harness, renewed["access_token"]) == 0
    assert (await stable_token(harness.client))["access_token"] == renewed["access_token"]


async def test_expires_in_is_never_below_five_minutes(harness: SimHarness) -> None:
    seen = []
    for _ in range(30):
        answer = await stable_token(harness.client)
        seen.append(answer["expires_in"])
        await advance(harness, 997)
    assert min(seen) >= RENEW_BEFORE_S
    assert seen.count(TOKEN_TTL_S) >= 4  # renewed several times, each time with a full lifetime


async def test_force_refresh_invalidates_at_once_and_is_limited(harness: SimHarness) -> None:
    old = (await stable_token(harness.client))["access_token"]
    forced = await stable_token(harness.client, force=True)
    assert forced["access_token"] != old and forced["expires_in"] == TOKEN_TTL_S
    assert await works(harness, old) == 40001
    assert await works(harness, forced["access_token"]) == 0
    # A second force within 30 s does not refresh: the current token comes back.
    await advance(harness, FORCE_MIN_GAP_S - 5)
    assert (await stable_token(harness.client, force=True))["access_token"] == forced["access_token"]
    # 20 a Beijing day: the 21st is refused with 45009 and the token stays.
    current = forced["access_token"]
    for _ in range(FORCE_PER_DAY - 1):
        await advance(harness, FORCE_MIN_GAP_S + 1)
        fresh = (await stable_token(harness.client, force=True))["access_token"]
        assert fresh != current
        current = fresh
    await advance(harness, FORCE_MIN_GAP_S + 1)
    refused = await stable_token(harness.client, force=True)
    assert refused["errcode"] == 45009 and "access_token" not in refused
    assert await works(harness, current) == 0
    await advance(harness, 86400)  # another Beijing day
    assert (await stable_token(harness.client, force=True))["access_token"] != current


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"appid": DEMO_APPID, "secret": DEMO_SECRET}, 40002),
        ({"grant_type": "authorization_code", "appid": DEMO_APPID, "secret": DEMO_SECRET}, 40002),
        ({"grant_type": "client_credential", "secret": DEMO_SECRET}, 41002),
        ({"grant_type": "client_credential", "appid": DEMO_APPID}, 41004),
        ({"grant_type": "client_credential", "appid": "wxunknown00000000", "secret": DEMO_SECRET}, 40013),
        ({"grant_type": "client_credential", "appid": DEMO_APPID, "secret": "wrong"}, 40125),
        ({"grant_type": "client_credential", "appid": DEMO_APPID, "secret": DEMO_SECRET, "force_refresh": 1}, 47001),
    ],
)
async def test_credential_errors(harness: SimHarness, body: dict[str, object], errcode: int) -> None:
    answer = (await harness.client.post("/cgi-bin/stable_token", json=body)).json()
    assert answer["errcode"] == errcode and "access_token" not in answer
    assert " rid: " in answer["errmsg"]


async def test_stable_token_is_post_json_only(harness: SimHarness) -> None:
    assert (await harness.client.post("/cgi-bin/stable_token", content=b"appid=x")).json()["errcode"] == 47001
    assert (await harness.client.get("/cgi-bin/stable_token")).status_code == 405


async def test_legacy_token_replaces_the_one_other_processes_hold(harness: SimHarness) -> None:
    """Why silverpay never calls /cgi-bin/token: each call replaces the token for everyone."""
    params = {"grant_type": "client_credential", "appid": DEMO_APPID, "secret": DEMO_SECRET}
    stable = (await stable_token(harness.client))["access_token"]
    first = (await harness.client.get("/cgi-bin/token", params=params)).json()
    second = (await harness.client.get("/cgi-bin/token", params=params)).json()
    assert first["access_token"] != second["access_token"] != stable
    assert await works(harness, first["access_token"]) == 0  # five minutes of grace
    await advance(harness, RENEW_BEFORE_S + 1)
    assert await works(harness, first["access_token"]) == 42001
    third = (await harness.client.get("/cgi-bin/token", params=params)).json()
    assert await works(harness, second["access_token"]) == 0
    fourth = (await harness.client.get("/cgi-bin/token", params=params)).json()
    assert await works(harness, second["access_token"]) == 40001  # replaced twice: gone at once
    assert await works(harness, third["access_token"]) == 0 and await works(harness, fourth["access_token"]) == 0
    assert await works(harness, stable) == 0  # the two families are isolated
    bad = (await harness.client.get("/cgi-bin/token", params={**params, "secret": "x"})).json()
    assert bad["errcode"] == 40125


async def test_order_apis_check_the_token(harness: SimHarness) -> None:
    missing = await harness.client.post("/wxa/sec/order/get_order", json={"transaction_id": "x"})
    assert missing.json()["errcode"] == 41001
    assert await works(harness, "86_not-a-token") == 40001
    good = (await stable_token(harness.client))["access_token"]
    await advance(harness, TOKEN_TTL_S)
    assert await works(harness, good) == 42001


async def test_unknown_order_api(harness: SimHarness) -> None:
    access = (await stable_token(harness.client))["access_token"]
    assert (await order_api(harness, "upload_combined_shipping_info", {}, access))["errcode"] == 40066
