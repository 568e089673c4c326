"""Operator sign-in: the session cookie, CSRF, idle expiry, sign-out and throttling, on every backend."""

from __future__ import annotations

import asyncio

import pytest

from silverpay.errors import Throttled, Unauthorized
from silverpay.service import operators
from silverpay.service.operators import session_id
from tests.console import PASSWORD, client, create_operator, signed_in
from tests.service_harness import ADMIN, Harness, running_harness


async def test_sign_in_sets_a_strict_http_only_cookie_and_answers_the_csrf_token(svc: Harness) -> None:
    account = await create_operator(svc, "support", "Sam@Shop.Example")
    assert account["email"] == "sam@shop.example" and account["role"] == "support"
    assert "password" not in str(account) and "hash" not in str(account)
    async with client(svc) as browser:
        response = await browser.post("/api/v1/admin/session", json={"email": "SAM@shop.example",
                                                                     "password": PASSWORD})  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["operator"] == {"operator_id": account["id"], "email": "sam@shop.example",
                                    "name": "sam@shop.example", "role": "support"}  # fmt: skip
        cookie = response.headers["set-cookie"]
        token = response.cookies["silverpay_session"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # demo mode on plain http
        assert body["csrf_token"] and body["csrf_token"] != token
        me = await browser.get("/api/v1/admin/session")
        assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]
        assert (await browser.get("/api/v1/admin/reconciliations")).status_code == 200  # a viewer's read
    machine = await svc.api.get("/api/v1/admin/session", headers=ADMIN)
    assert machine.json()["operator"]["name"] == "admin-token" and machine.json()["csrf_token"] is None
    assert machine.json()["operator"]["role"] == "owner"
    assert session_id(token) != token  # only the hash is stored


async def test_secure_cookie_outside_demo_mode(database_url: str) -> None:
    async with running_harness(database_url, console_secure_cookie=True) as h:
        await create_operator(h, "viewer", "v@shop.example")
        async with client(h) as browser:
            response = await browser.post("/api/v1/admin/session", json={"email": "v@shop.example",
                                                                         "password": PASSWORD})  # fmt: skip
            assert "Secure" in response.headers["set-cookie"]


async def test_wrong_password_unknown_and_disabled_accounts_look_alike(svc: Harness) -> None:
    account = await create_operator(svc, "viewer")
    async with client(svc) as browser:
        attempts = [(account["email"], "not the password"), ("nobody@shop.example", PASSWORD)]
        for email, password in attempts:
            response = await browser.post("/api/v1/admin/session", json={"email": email, "password": password})
            assert response.status_code == 401 and response.json()["error"]["code"] == "LOGIN_FAILED"
            assert "silverpay_session" not in response.cookies
        disabled = await svc.api.patch(f"/api/v1/admin/operators/{account['id']}", json={"disabled": True},
                                       headers=ADMIN)  # fmt: skip
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
        response = await browser.post("/api/v1/admin/session", json={"email": account["email"], "password": PASSWORD})
        assert response.json()["error"]["code"] == "LOGIN_FAILED"


async def test_cookie_requests_that_change_something_need_the_csrf_token(svc: Harness) -> None:
    async with signed_in(svc, "owner") as owner:
        product = {"name": "tea", "price_fen": 100}
        refused = await owner.send("POST", "/api/v1/admin/products", json=product, csrf=False)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "CSRF_FAILED"
        wrong = await owner.send("POST", "/api/v1/admin/products", json=product, csrf=False,
                                 headers={"X-CSRF-Token": "0" * 64})  # fmt: skip
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "CSRF_FAILED"
        assert (await owner.send("POST", "/api/v1/admin/products", json=product)).status_code == 201
        assert (await owner.get("/api/v1/admin/products")).status_code == 200  # reads need none
    # The bearer token needs no CSRF token: no browser sends it on its own.
    assert (await svc.api.post("/api/v1/admin/products", json=product, headers=ADMIN)).status_code == 201


async def test_a_session_from_another_operator_does_not_carry_its_csrf_token(svc: Harness) -> None:
    async with signed_in(svc, "owner") as first, signed_in(svc, "owner") as second:
        response = await first.send("POST", "/api/v1/admin/products", json={"name": "x", "price_fen": 1}, csrf=False,
                                    headers={"X-CSRF-Token": second.csrf})  # fmt: skip
        assert response.status_code == 403 and response.json()["error"]["code"] == "CSRF_FAILED"


async def test_idle_sessions_expire_and_activity_keeps_them(svc: Harness) -> None:
    idle = svc.settings.console_idle_timeout_s
    async with signed_in(svc, "viewer") as viewer:
        for _ in range(3):  # each request within the timeout moves the idle clock back to zero
            svc.clock.offset += idle - 60
            assert (await viewer.get("/api/v1/admin/session")).status_code == 200
        svc.clock.offset += idle + 1
        expired = await viewer.get("/api/v1/admin/session")
        assert expired.status_code == 401 and expired.json()["error"]["code"] == "SESSION_EXPIRED"
        svc.clock.offset -= idle + 1  # the session is gone, not just too old
        assert (await viewer.get("/api/v1/admin/session")).status_code == 401


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(svc: Harness) -> None:
    async with signed_in(svc, "finance") as finance:
        refused = await finance.send("DELETE", "/api/v1/admin/session", csrf=False)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "CSRF_FAILED"
        token = finance.client.cookies["silverpay_session"]
        out = await finance.send("DELETE", "/api/v1/admin/session")
        assert out.status_code == 204 and 'silverpay_session=""' in out.headers["set-cookie"]
        assert (await finance.get("/api/v1/admin/session")).status_code == 401
        finance.client.cookies.set("silverpay_session", token)  # the old cookie, replayed
        assert (await finance.get("/api/v1/admin/orders/1")).status_code == 401


async def test_sign_out_by_form_field(svc: Harness) -> None:
    async with signed_in(svc, "viewer") as viewer:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        out = await viewer.send("DELETE", "/api/v1/admin/session", csrf=False, content=f"csrf_token={viewer.csrf}",
                                headers=form)  # fmt: skip
        assert out.status_code == 204
        assert (await viewer.get("/api/v1/admin/session")).status_code == 401


async def test_disabling_or_a_new_password_ends_sessions(svc: Harness) -> None:
    async with signed_in(svc, "support") as support, signed_in(svc, "support") as other:
        changed = await svc.api.patch(f"/api/v1/admin/operators/{support.operator_id}",
                                      json={"password": "another long password"}, headers=ADMIN)  # fmt: skip
        assert changed.status_code == 200
        assert (await support.get("/api/v1/admin/session")).status_code == 401
        await svc.api.patch(f"/api/v1/admin/operators/{other.operator_id}", json={"disabled": True}, headers=ADMIN)
        assert (await other.get("/api/v1/admin/session")).status_code == 401


async def test_an_account_locks_after_repeated_failures(svc: Harness) -> None:
    account = await create_operator(svc, "finance")
    limit, lock_s = svc.settings.console_login_max_failures, svc.settings.console_login_lock_s
    async with client(svc) as browser:

        async def attempt(password: str) -> tuple[int, str, str | None]:
            r = await browser.post("/api/v1/admin/session", json={"email": account["email"], "password": password})
            code = r.json()["error"]["code"] if r.status_code != 200 else ""
            return r.status_code, code, r.headers.get("retry-after")

        for _ in range(limit - 1):
            assert (await attempt("wrong password"))[:2] == (401, "LOGIN_FAILED")
        assert await attempt("wrong password") == (429, "LOGIN_LOCKED", str(lock_s))
        status, code, retry_after = await attempt(PASSWORD)  # the right password does not open a lock
        assert (status, code) == (429, "LOGIN_LOCKED") and retry_after is not None and int(retry_after) <= lock_s
        listed = (await svc.api.get(f"/api/v1/admin/operators/{account['id']}", headers=ADMIN)).json()
        assert listed["locked_until"] is not None
        svc.clock.offset += lock_s + 1
        assert (await attempt(PASSWORD))[0] == 200
        assert (await attempt("wrong password"))[:2] == (401, "LOGIN_FAILED")  # success reset the count


async def test_parallel_wrong_guesses_stop_at_the_limit(svc: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt is counted (under the throttle rows' lock) before its password is looked at:
    guesses sent all at once get no more verifications than one after another would."""
    account = await create_operator(svc, "owner")
    limit = svc.settings.console_login_max_failures
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    verified = 0
    real_verify = operators.verify_password

    async def counted_verify(password_hash: str, password: str) -> bool:
        nonlocal verified
        verified += 1
        return await real_verify(password_hash, password)

    monkeypatch.setattr(operators, "verify_password", counted_verify)
    barrier = asyncio.Barrier(limit + 5)

    async def guess(n: int) -> str:
        await barrier.wait()
        try:
            await operators.login(ctx, account["email"], f"wrong guess {n}", "198.51.100.7")
        except (Unauthorized, Throttled) as error:
            return error.code
        return "SIGNED_IN"

    codes = await asyncio.gather(*(guess(n) for n in range(limit + 5)))
    assert verified == limit
    assert sorted(codes) == sorted(["LOGIN_FAILED"] * (limit - 1) + ["LOGIN_LOCKED"] * 6)
    with pytest.raises(Throttled):  # locked: the right password is not even looked at
        await operators.login(ctx, account["email"], PASSWORD, "198.51.100.7")
    assert verified == limit
    svc.clock.offset += svc.settings.console_login_lock_s + 1
    assert (await operators.login(ctx, account["email"], PASSWORD, "198.51.100.7")).operator.email == account["email"]


async def test_a_right_password_does_not_count_against_the_address(database_url: str) -> None:
    async with running_harness(database_url, console_login_ip_max_failures=3) as h:
        account = await create_operator(h, "viewer")
        ctx = h.api._transport.app.state.ctx  # type: ignore[attr-defined]
        for _ in range(5):
            await operators.login(ctx, account["email"], PASSWORD, "198.51.100.8")
        with pytest.raises(Unauthorized):
            await operators.login(ctx, account["email"], "wrong", "198.51.100.8")
        await operators.login(ctx, account["email"], PASSWORD, "198.51.100.8")


async def test_an_address_locks_after_failures_across_accounts(database_url: str) -> None:
    async with running_harness(database_url, console_login_ip_max_failures=3) as h:
        account = await create_operator(h, "viewer")
        async with client(h) as browser:
            for n in range(3):
                r = await browser.post("/api/v1/admin/session", json={"email": f"guess{n}@x.example", "password": "x"})
            assert r.status_code == 429 and r.json()["error"]["code"] == "LOGIN_LOCKED"
            r = await browser.post("/api/v1/admin/session", json={"email": account["email"], "password": PASSWORD})
            assert r.status_code == 429  # every account, from this address
            h.clock.offset += h.settings.console_login_lock_s + 1
            r = await browser.post("/api/v1/admin/session", json={"email": account["email"], "password": PASSWORD})
            assert r.status_code == 200


async def test_passwords_never_reach_the_logs(svc: Harness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level("DEBUG")
    secret = "Sesame-open-4-real"
    account = await create_operator(svc, "owner", password=secret + "!!")
    async with client(svc) as browser:
        await browser.post("/api/v1/admin/session", json={"email": account["email"], "password": secret})
        await browser.post("/api/v1/admin/session", json={"email": account["email"], "password": secret + "!!"})
    await svc.api.patch(f"/api/v1/admin/operators/{account['id']}", json={"password": secret + "??"}, headers=ADMIN)
    trail = (await svc.api.get("/api/v1/admin/audit", headers=ADMIN)).text
    assert "operator signed in" in caplog.text and "sign-in failed" in caplog.text
    assert secret not in caplog.text and secret not in trail and "argon2" not in trail
