"""The keys that verify WeChat's answers and notifications, and when to fetch more (SPEC §3.2).

Two modes, and the switch between them, in one :class:`Verifier`: a configured WeChat Pay public
key under its ``PUB_KEY_ID_…``, and platform certificates downloaded from ``/v3/certificates``
under their serials. Each message names its key in ``Wechatpay-Serial``, so both verify side by
side while WeChat moves a merchant from one to the other.

Certificates are fetched lazily: on the first message naming a serial not held (which is also
how a rotated certificate arrives). Refreshes are single-flight and rate-limited, because the
serial is chosen by whoever sent the message: a flood of forged serials must not become a flood
of downloads. A public key id is never fetched (public keys are configuration).

Each process keeps its own cache in memory: nothing is shared, so several processes (or workers)
need no coordination; each downloads at most once per ``min_interval_s`` when a serial is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from silverpay.errors import SignatureError, SilverpayError
from silverpay.wechat.v3.certificates import trust_certificates, verify_certificates_response
from silverpay.wechat.v3.keys import is_public_key_id
from silverpay.wechat.v3.signing import Failure, Verifier, WechatpayHeaders

log = logging.getLogger(__name__)

MIN_REFRESH_INTERVAL_S = 60.0
# Downloads the raw /v3/certificates answer: its headers and body, unverified.
Fetch = Callable[[], Awaitable[tuple[Mapping[str, str], bytes]]]


class PlatformKeys:
    def __init__(
        self,
        verifier: Verifier,
        *,
        api_v3_key: str,
        fetch: Fetch | None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        min_interval_s: float = MIN_REFRESH_INTERVAL_S,
    ) -> None:
        """``verifier`` holds the configured public key, if any; ``fetch`` is ``None`` when
        certificates must never be downloaded. ``clock`` is wall time (timestamps, validity)."""
        self._verifier = verifier
        self._api_v3_key = api_v3_key
        self._fetch = fetch
        self._clock = clock
        self._monotonic = monotonic
        self._min_interval_s = min_interval_s
        self._lock = asyncio.Lock()
        self._last_refresh: float | None = None
        self.refreshes = 0  # downloads attempted, for tests and operators
        self.certificate_expiry: dict[str, float] = {}  # serial → expire_time of downloaded certificates

    @property
    def serials(self) -> frozenset[str]:
        return self._verifier.serials

    @property
    def verifier(self) -> Verifier:
        """The keys held now (certificate refreshes add to it)."""
        return self._verifier

    def now(self) -> float:
        """Wall time, as signature timestamps are checked against."""
        return self._clock()

    async def verify(self, headers: Mapping[str, str], body: bytes) -> WechatpayHeaders:
        """Check a signed answer or notification; on an unknown serial, refresh once and retry.

        Raises :class:`SignatureError` whose ``code`` is a :class:`Failure`.
        """
        try:
            return self._verifier.verify_response(headers, body, now=self._clock())
        except SignatureError as error:
            if error.code != Failure.UNKNOWN_SERIAL:
                raise
            serial = WechatpayHeaders.from_headers(headers).serial
            if not await self.refresh_for(serial):
                raise
        return self._verifier.verify_response(headers, body, now=self._clock())

    async def refresh_for(self, serial: str) -> bool:
        """Try to learn ``serial`` by downloading certificates; whether it is known afterwards."""
        if is_public_key_id(serial) or self._fetch is None:
            return serial in self._verifier
        async with self._lock:
            if serial in self._verifier:  # a concurrent refresh brought it
                return True
            now = self._monotonic()
            if self._last_refresh is not None and now - self._last_refresh < self._min_interval_s:
                log.warning("unknown platform serial; certificates were refreshed %.0f s ago, not again yet",
                            now - self._last_refresh)  # fmt: skip
                return False
            self._last_refresh = now
            await self._refresh()
        return serial in self._verifier

    async def _refresh(self) -> None:
        if self._fetch is None:  # public-key mode only: nothing to download
            return
        self.refreshes += 1
        try:
            headers, body = await self._fetch()
            wall = self._clock()
            certificates = verify_certificates_response(headers, body, self._api_v3_key, now=wall,
                                                        known=self._verifier)  # fmt: skip
        except SilverpayError as error:  # unreachable, unreadable, not ours: keep what we hold
            log.warning("platform certificate download failed: %s %s", error.code, error.message)
            return
        valid = [c for c in certificates if c.is_valid_at(wall)]
        added = trust_certificates(self._verifier, valid, now=wall)
        self.certificate_expiry.update(zip(added, (c.expires_at for c in valid), strict=True))
        log.info("platform certificates refreshed: %s", ", ".join(added) or "none valid now")
