"""Mini-program login: exchange a ``wx.login`` code at ``jscode2session`` (SPEC §1)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import httpx

from silverpay.errors import LoginCodeRejected, UpstreamMisconfigured, UpstreamUnavailable
from silverpay.logs import redact_url_secrets

log = logging.getLogger(__name__)

# errcodes that mean the user's code is bad (expired, reused, forged): a 4xx for the mini-program
USER_CODE_ERRORS = {40029: "invalid code", 40163: "code already used", 41008: "missing code", 40226: "code blocked"}
# errcodes that mean our own configuration is wrong
CONFIG_ERRORS = {40013: "invalid appid", 40125: "invalid appsecret", 41002: "appid missing", 41004: "secret missing"}


@dataclass(frozen=True)
class WechatSession:
    openid: str
    session_key: str = field(repr=False)  # never leaves the server, never logged
    unionid: str = ""


class LoginClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, appid: str, secret: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/sns/jscode2session"
        self.appid = appid
        self._secret = secret
        redact_url_secrets()  # the AppSecret travels in the query string, and httpx logs URLs at INFO

    async def code2session(self, code: str) -> WechatSession:
        params = {"appid": self.appid, "secret": self._secret, "js_code": code, "grant_type": "authorization_code"}
        try:
            response = await self._http.get(self._url, params=params)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"jscode2session unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"jscode2session answered HTTP {response.status_code}")
        try:
            body = json.loads(response.content)  # served as text/plain: ignore the content type
        except ValueError:
            raise UpstreamUnavailable("jscode2session answered something that is not JSON") from None
        errcode = int(body.get("errcode") or 0)  # success has no errcode at all (SPEC §1)
        if errcode == 0 and body.get("openid") and body.get("session_key"):
            return WechatSession(str(body["openid"]), str(body["session_key"]), str(body.get("unionid", "")))
        if errcode in USER_CODE_ERRORS:
            raise LoginCodeRejected(
                f"WeChat refused the login code: {USER_CODE_ERRORS[errcode]}", upstream_code=str(errcode)
            )
        if errcode in CONFIG_ERRORS:
            log.error("jscode2session refused our credentials: errcode=%s (%s)", errcode, CONFIG_ERRORS[errcode])
            raise UpstreamMisconfigured("WeChat login is misconfigured on the server")
        raise UpstreamUnavailable(f"jscode2session failed with errcode {errcode}")
