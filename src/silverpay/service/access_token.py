"""The mini-program's access_token, one per appid for every process, kept in the database.

getStableAccessToken in normal mode (:func:`~silverpay.wechat.miniapp.token.stable_token`) answers
the same token until its last 5 minutes, then a new one while the old keeps working until it
expires. So: every process reads the token from ``wechat_access_tokens``; when it is within
:data:`REFRESH_BEFORE_S` of its expiry (inside WeChat's renewal window, so a fetch does bring a new
one), or a call was refused with it (40001/42001/40014), ONE process fetches a new one — the one
that takes the row's lease (``lease_until``, set under the row lock) — outside any transaction,
and stores it. The others keep using the old token while it is still valid, or wait for the new
one. ``force_refresh`` is never sent: it would invalidate the token every other process holds.

The token is a secret: it is never logged, never put in an event or an error message.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import Clock, utc
from silverpay.errors import UpstreamUnavailable
from silverpay.store.models_shipping import WechatAccessToken
from silverpay.wechat.miniapp.token import AccessToken, stable_token

log = logging.getLogger(__name__)

REFRESH_BEFORE_S = 240  # inside WeChat's 5-minute renewal window: a fetch then brings a new token
LEASE_S = 30  # a fetch takes at most the HTTP timeout; a dead fetcher's lease lapses after this
WAIT_STEP_S = 0.05
WAIT_MAX_S = 15.0


class DatabaseTokenProvider:
    """A :data:`~silverpay.wechat.miniapp.token.TokenProvider` backed by ``wechat_access_tokens``,
    with the token cached in memory until it is due for renewal."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, base_url: str, appid: str,
        secret: str, *, clock: Clock,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self._http = http
        self._base_url = base_url
        self.appid = appid
        self._secret = secret
        self._clock = clock
        self._value = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()  # one fetch attempt per process at a time

    def __repr__(self) -> str:
        return f"DatabaseTokenProvider(appid={self.appid!r})"

    async def __call__(self, force: bool = False) -> str:
        if not force and self._value and self._clock() < self._renew_at:
            return self._value
        refused = self._value if force else ""
        async with self._lock:
            if self._value and self._value != refused and self._clock() < self._renew_at:
                return self._value  # renewed by another task of this process while we waited
            return await self._shared(refused)

    async def _shared(self, refused: str) -> str:
        waited = 0.0
        while True:
            now = self._clock()
            row = await self._read()
            if row is not None and self._usable(row, refused, now, margin=REFRESH_BEFORE_S):
                return self._keep(row.value, row.expires_at)
            if await self._take_lease(refused, now):
                return await self._fetch(now)
            # Another process is fetching. The old token serves meanwhile while it is still valid.
            if row is not None and self._usable(row, refused, now, margin=0):
                return row.value
            if waited >= WAIT_MAX_S:
                raise UpstreamUnavailable("the access_token is being renewed by another process; try again")
            await asyncio.sleep(WAIT_STEP_S)
            waited += WAIT_STEP_S

    @staticmethod
    def _usable(row: WechatAccessToken, refused: str, now: float, *, margin: float) -> bool:
        if not row.value or row.value == refused or row.expires_at is None:
            return False
        return now < row.expires_at.timestamp() - margin

    def _keep(self, value: str, expires_at: datetime | None) -> str:
        self._value = value
        self._renew_at = expires_at.timestamp() - REFRESH_BEFORE_S if expires_at else 0.0
        return value

    async def _read(self) -> WechatAccessToken | None:
        async with self._sessions() as db:
            return await db.get(WechatAccessToken, self.appid)

    async def _take_lease(self, refused: str, now: float) -> bool:
        """Under the row's lock: True when this process is to fetch (no fresh token, no live lease)."""
        try:
            async with self._sessions.begin() as db:
                query = select(WechatAccessToken).where(WechatAccessToken.appid == self.appid).with_for_update()
                row = (await db.execute(query)).scalar_one_or_none()
                lease = utc(now) + timedelta(seconds=LEASE_S)
                if row is None:
                    db.add(WechatAccessToken(appid=self.appid, value="", expires_at=None, lease_until=lease,
                                             fetches=0, updated_at=utc(now)))  # fmt: skip
                    return True
                if self._usable(row, refused, now, margin=REFRESH_BEFORE_S):
                    return False  # renewed meanwhile: the caller reads it
                if row.lease_until is not None and row.lease_until > utc(now):
                    return False
                row.lease_until = lease
                return True
        except IntegrityError:  # another process inserted the row first: it holds the lease
            return False

    async def _fetch(self, now: float) -> str:
        try:
            token: AccessToken = await stable_token(self._http, self._base_url, self.appid, self._secret)
        except BaseException:
            await self._store(None, now)  # give the lease back at once
            raise
        expires_at = utc(now) + timedelta(seconds=token.expires_in)
        await self._store(token, now, expires_at)
        log.info("access_token renewed for appid=%s (valid %s s)", self.appid, token.expires_in)
        return self._keep(token.value, expires_at)

    async def _store(self, token: AccessToken | None, now: float, expires_at: datetime | None = None) -> None:
        async with self._sessions.begin() as db:
            row = await db.get(WechatAccessToken, self.appid, with_for_update=True)
            if row is None:
                return
            row.lease_until = None
            if token is not None:
                row.value, row.expires_at, row.fetches, row.updated_at = (
                    token.value, expires_at, row.fetches + 1, utc(now)
                )  # fmt: skip
