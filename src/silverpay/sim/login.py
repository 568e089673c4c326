"""`auth.code2Session` (SPEC §1): one-time codes from `POST /sim/v1/login`, valid 300 s."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

from fastapi import APIRouter, Request, Response

from silverpay.sim.config import CODE_TTL_S, SimConfig
from silverpay.sim.simulator import Simulator
from silverpay.sim.state import LoginCode, SimState, User


def openid_for(appid: str, user: str) -> str:
    """Stable per (appid, user), 28 characters like WeChat's: no state needed to stay consistent."""
    digest = hashlib.sha256(f"{appid}\x00{user}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def issue_code(state: SimState, appid: str, user: str, now: float) -> LoginCode:
    openid = openid_for(appid, user)
    existing = state.users.get(f"{appid}:{openid}")
    state.save_user(User(appid, openid, user, existing.session_key if existing else ""))
    code = LoginCode(code=secrets.token_urlsafe(24), appid=appid, openid=openid, issued_at=now)
    state.save_code(code)
    return code


def _answer(payload: dict[str, object]) -> Response:
    # WeChat serves these JSON bodies as text/plain; clients must not rely on the content type.
    return Response(json.dumps(payload, ensure_ascii=False), media_type="text/plain")


def _error(errcode: int, errmsg: str) -> Response:
    return _answer({"errcode": errcode, "errmsg": f"{errmsg}, rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"})


def exchange(config: SimConfig, state: SimState, query: dict[str, str], now: float) -> Response:
    appid, secret = query.get("appid", ""), query.get("secret", "")
    js_code, grant_type = query.get("js_code", ""), query.get("grant_type", "")
    if not appid:
        return _error(41002, "appid missing")
    if not secret:
        return _error(41004, "appsecret missing")
    if not js_code:
        return _error(41008, "missing code")
    if grant_type != "authorization_code":
        return _error(40002, "invalid grant_type")
    app = config.apps.get(appid)
    if app is None:
        return _error(40013, "invalid appid")
    if not secrets.compare_digest(app.secret.encode(), secret.encode()):
        return _error(40125, "invalid appsecret")
    code = state.codes.get(js_code)
    if code is None or code.appid != appid or now - code.issued_at > CODE_TTL_S:
        return _error(40029, "invalid code")
    if code.used:
        return _error(40163, "code been used")
    code.used = True
    state.save_code(code)
    user = state.users[f"{appid}:{code.openid}"]
    user.session_key = base64.b64encode(secrets.token_bytes(16)).decode()  # a new one per login
    state.save_user(user)
    return _answer({"session_key": user.session_key, "openid": code.openid})


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(tags=["WeChat login"])

    @api.get("/sns/jscode2session")
    async def jscode2session(request: Request) -> Response:
        if sim.injector.roll(sim.injector.faults.login_error_rate):
            return _error(-1, "system error")
        return exchange(sim.config, sim.state, dict(request.query_params), sim.clock.now())

    return api
