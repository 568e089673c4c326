"""The mini-program's ``access_token`` through getStableAccessToken (SHIPPING.md §1.7).

``POST {LOGIN_BASE}/cgi-bin/stable_token`` in normal mode (``force_refresh: false``) answers the
same token for as long as it is valid, and a new one in its last 5 minutes while the old one keeps
working until it expires: every process may call it and all hold a working token. The legacy
``GET /cgi-bin/token`` is never used: each call there invalidates the token other processes hold.
``force_refresh: true`` (limited to 20 a day, 30 s apart) invalidates the current token at once and
is for a leaked token only: nothing here sends it unless asked explicitly.

The token and the AppSecret are secrets: they never appear in a repr, a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from silverpay.errors import UpstreamMisconfigured, UpstreamRejected, UpstreamUnavailable
from silverpay.logs import redact_url_secrets
from silverpay.wechat.miniapp.wire import BUSY, errcode_of, errmsg_of, post_json

log = logging.getLogger(__name__)

STABLE_TOKEN_PATH = "/cgi-bin/stable_token"  # noqa: S105 (a path, not a password)
# WeChat renews a stable token 5 minutes before it expires; any answer is valid for >= 300 s.
RENEWAL_WINDOW_S = 300
# errcodes that say our own configuration is wrong: nothing to retry.
CONFIG_ERRORS = {
    40002: "invalid grant_type",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40164: "the caller's IP is not in the whitelist",
    41002: "appid missing",
    41004: "appsecret missing",
    61004: "the caller's IP is not in the whitelist",
}

# What a shipping client asks for a token: ``force=True`` means the last one was refused (40001,
# 42001, 40014), so do not answer from a cache. It does not mean WeChat's force_refresh.
TokenProvider = Callable[[bool], Awaitable[str]]


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_in: int  # seconds from the answer; >= 300 from stable_token


async def stable_token(
    http: httpx.AsyncClient, base_url: str, appid: str, secret: str, *, force_refresh: bool = False
) -> AccessToken:
    """One getStableAccessToken call. :class:`UpstreamMisconfigured` for a wrong appid or secret,
    :class:`UpstreamUnavailable` for busy, quota and transport failures (retry later)."""
    redact_url_secrets()
    payload = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force_refresh}
    body = await post_json(http, base_url.rstrip("/") + STABLE_TOKEN_PATH, payload, what="stable_token")
    errcode = errcode_of(body)
    if errcode == 0:
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise UpstreamUnavailable("stable_token answered without a token and its lifetime")
        return AccessToken(token, expires_in)
    if errcode in CONFIG_ERRORS:
        log.error("stable_token refused our credentials: errcode=%s (%s)", errcode, CONFIG_ERRORS[errcode])
        raise UpstreamMisconfigured(f"stable_token: {CONFIG_ERRORS[errcode]} (errcode {errcode})")
    if errcode in BUSY:
        raise UpstreamUnavailable(f"stable_token: {BUSY[errcode]} (errcode {errcode})")
    raise UpstreamRejected(f"stable_token failed: errcode {errcode} {errmsg_of(body)}", upstream_code=str(errcode))


class CachedTokenProvider:
    """A :data:`TokenProvider` for one process: the token in memory, fetched again (normal mode)
    when it nears its end or when a call says it was refused. Concurrent callers share one fetch.

    Several processes may each use one, since normal mode hands them all the same token; the
    service keeps its token in the database instead, so that a restart does not fetch again.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        appid: str,
        secret: str,
        *,
        refresh_before_s: float = RENEWAL_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self.appid = appid
        self._secret = secret
        self._refresh_before_s = refresh_before_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._value = ""
        self._refresh_at = 0.0
        self._fetches = 0  # completed fetches: a caller that waited on the lock may use a newer one
        redact_url_secrets()

    def __repr__(self) -> str:
        return f"CachedTokenProvider(appid={self.appid!r})"

    @property
    def fetches(self) -> int:
        return self._fetches

    async def __call__(self, force: bool = False) -> str:
        seen = self._fetches
        async with self._lock:
            if self._value and self._fetches != seen:
                return self._value  # fetched while this caller waited
            if self._value and not force and self._clock() < self._refresh_at:
                return self._value
            token = await stable_token(self._http, self._base_url, self.appid, self._secret)
            self._value = token.value
            self._refresh_at = self._clock() + max(token.expires_in - self._refresh_before_s, 0.0)
            self._fetches += 1
            return self._value
