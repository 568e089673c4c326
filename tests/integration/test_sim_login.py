"""jscode2session against the in-process simulator: every branch of SPEC §1."""

import pytest

from silverpay.sim.config import CODE_TTL_S, DEMO_APPID, DEMO_SECRET
from tests.conftest import SimHarness


async def exchange(h: SimHarness, **overrides: str) -> dict:  # type: ignore[type-arg]
    params = {"appid": DEMO_APPID, "secret": DEMO_SECRET, "grant_type": "authorization_code", **overrides}
    params = {k: v for k, v in params.items() if v != "<omit>"}
    response = await h.client.get("/sns/jscode2session", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")  # as WeChat serves it
    return response.json()  # type: ignore[no-any-return]


async def test_code_exchanges_once_for_openid_and_session_key(harness: SimHarness) -> None:
    login = await harness.login("alice")
    body = await exchange(harness, js_code=login["code"])
    assert set(body) == {"openid", "session_key"}  # no errcode on success
    assert body["openid"] == login["openid"]
    assert len(body["openid"]) == 28
    again = await exchange(harness, js_code=login["code"])
    assert again["errcode"] == 40163
    assert again["errmsg"].startswith("code been used, rid: ")


async def test_same_user_same_openid_other_user_other_openid(harness: SimHarness) -> None:
    a1, a2, b = await harness.login("alice"), await harness.login("alice"), await harness.login("bob")
    assert a1["openid"] == a2["openid"] != b["openid"]
    assert a1["code"] != a2["code"]
    s1 = await exchange(harness, js_code=a1["code"])
    s2 = await exchange(harness, js_code=a2["code"])
    assert s1["session_key"] != s2["session_key"]  # a new session key per login


async def test_expired_code(harness: SimHarness) -> None:
    login = await harness.login()
    await harness.client.post("/sim/v1/clock", json={"advance_s": CODE_TTL_S + 1})
    assert (await exchange(harness, js_code=login["code"]))["errcode"] == 40029


async def test_code_of_another_appid(harness: SimHarness) -> None:
    response = await harness.client.post("/sim/v1/apps", json={"appid": "wxother0000000001", "secret": "s2"})
    assert response.status_code == 201
    login = await harness.login(appid="wxother0000000001")
    assert (await exchange(harness, js_code=login["code"]))["errcode"] == 40029
    # ... and it still works for its own app
    ok = await exchange(harness, appid="wxother0000000001", secret="s2", js_code=login["code"])
    assert ok["openid"] == login["openid"]


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [
        ({"js_code": "never-issued"}, 40029),
        ({"js_code": "<omit>"}, 41008),
        ({"js_code": "x", "appid": "<omit>"}, 41002),
        ({"js_code": "x", "secret": "<omit>"}, 41004),
        ({"js_code": "x", "appid": "wxunknown"}, 40013),
        ({"js_code": "x", "secret": "wrong-secret"}, 40125),
        ({"js_code": "x", "grant_type": "password"}, 40002),
    ],
)
async def test_errors(harness: SimHarness, overrides: dict[str, str], errcode: int) -> None:
    body = await exchange(harness, **overrides)
    assert body["errcode"] == errcode
    assert "openid" not in body and "session_key" not in body


async def test_bad_secret_does_not_burn_the_code(harness: SimHarness) -> None:
    login = await harness.login()
    assert (await exchange(harness, js_code=login["code"], secret="wrong"))["errcode"] == 40125
    assert "openid" in await exchange(harness, js_code=login["code"])


async def test_injected_system_error(harness: SimHarness) -> None:
    await harness.client.put("/sim/v1/faults", json={"login_error_rate": 1.0})
    login = await harness.login()
    assert (await exchange(harness, js_code=login["code"]))["errcode"] == -1
    await harness.client.delete("/sim/v1/faults")
    assert "openid" in await exchange(harness, js_code=login["code"])


async def test_login_for_unknown_appid_is_refused(harness: SimHarness) -> None:
    response = await harness.client.post("/sim/v1/login", json={"appid": "wxnope", "user": "alice"})
    assert response.status_code == 400
