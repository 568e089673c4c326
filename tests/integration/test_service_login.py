"""POST /api/v1/auth/wx-login against the simulator, per backend."""

from __future__ import annotations

import jwt

from silverpay.sim.config import DEMO_APPID
from tests.service_harness import Harness


async def code_for(svc: Harness, user: str) -> str:
    return str((await svc.wx.post("/sim/v1/login", json={"appid": DEMO_APPID, "user": user})).json()["code"])


async def test_new_then_returning_user(svc: Harness) -> None:
    first = await svc.api.post("/api/v1/auth/wx-login", json={"code": await code_for(svc, "carol"), "nickname": "C"})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"]["nickname"] == "C"
    assert "session_key" not in first.text and "openid" not in first.text
    assert body["expires_at"] - svc.clock() == pytest_approx(svc.settings.token_ttl_s)
    again = await svc.api.post("/api/v1/auth/wx-login", json={"code": await code_for(svc, "carol")})
    assert again.json()["user"]["id"] == body["user"]["id"]
    assert again.json()["user"]["nickname"] == "C"  # kept when not sent again


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, abs=2)


async def test_bad_and_reused_codes_are_the_users_problem(svc: Harness) -> None:
    bad = await svc.api.post("/api/v1/auth/wx-login", json={"code": "forged"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_LOGIN_CODE"
    code = await code_for(svc, "dave")
    assert (await svc.api.post("/api/v1/auth/wx-login", json={"code": code})).status_code == 200
    reused = await svc.api.post("/api/v1/auth/wx-login", json={"code": code})
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "INVALID_LOGIN_CODE"


async def test_wechat_system_error_is_upstream(svc: Harness) -> None:
    code = await code_for(svc, "erin")
    await svc.faults(login_error_rate=1.0)
    response = await svc.api.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status_code == 503 and response.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"


async def test_malformed_login_request(svc: Harness) -> None:
    for body in ({}, {"code": ""}, {"code": "x", "extra": 1}, {"code": 5}):
        response = await svc.api.post("/api/v1/auth/wx-login", json=body)
        assert response.status_code == 422 and response.json()["error"]["code"] == "INVALID_REQUEST"


async def test_tokens_are_checked(svc: Harness) -> None:
    alice = await svc.shopper()
    assert (await svc.api.get("/api/v1/orders")).status_code == 401
    assert (await svc.api.get("/api/v1/orders", headers={"Authorization": "Bearer junk"})).status_code == 401
    forged = jwt.encode({"sub": str(alice.user_id), "iat": 0, "exp": 2**40, "iss": "silverpay", "aud": "miniprogram"},
                        "not-the-secret-" * 3, algorithm="HS256")  # fmt: skip
    assert (await svc.api.get("/api/v1/orders", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    assert (await svc.api.get("/api/v1/orders", headers=alice.auth)).status_code == 200
    svc.clock.offset += svc.settings.token_ttl_s + 1
    expired = await svc.api.get("/api/v1/orders", headers=alice.auth)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "TOKEN_EXPIRED"
