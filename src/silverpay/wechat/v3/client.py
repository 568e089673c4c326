"""Signed v3 calls over httpx: sign the request, verify the answer, map errors (SPEC §3.1, §3.2, §3.8).

The error reading is v2's: :class:`UpstreamUnavailable` whenever the outcome is unknown — no
answer, a 5xx, or an answer whose signature does not hold (it cannot be trusted either way).
Error answers are verified when they carry a signature; unsigned ones are read as they are, as the
official SDKs do (wechatpay-java and wechatpay-go check the status before the signature), since
WeChat's gateway does not sign every error.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from silverpay.errors import ProtocolError, SignatureError, UpstreamRejected, UpstreamUnavailable
from silverpay.wechat.v3.error_map import error_for
from silverpay.wechat.v3.json_body import dumps, loads_object
from silverpay.wechat.v3.platform_keys import PlatformKeys
from silverpay.wechat.v3.signing import HEADER_SERIAL, HEADER_SIGNATURE, Signer, canonical_url, nonce_str

log = logging.getLogger(__name__)

USER_AGENT = "silverpay/0.1 (WeChat Pay API v3)"
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]  # {} for 204


class V3Client:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        mchid: str,
        signer: Signer,
        platform: PlatformKeys,
        public_key_id: str = "",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._mchid = mchid
        self._signer = signer
        self.platform = platform
        self._public_key_id = public_key_id
        self._wall = wall

    def _headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        headers = {
            "Authorization": self._signer.authorization(mchid=self._mchid, method=method, url=url, body=body,
                                                        timestamp=int(self._wall()), nonce=nonce_str()),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }  # fmt: skip
        if body:
            headers["Content-Type"] = "application/json"
        if self._public_key_id:
            # Names the key WeChat should answer with; during the switch from certificates it
            # moves this merchant's answers to the public key (the switch guide asks for it on
            # every request, sensitive fields or not).
            headers[HEADER_SERIAL] = self._public_key_id
        return headers

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        return self.base_url + path + ("?" + urlencode(query) if query else "")

    async def send(self, method: str, url: str, *, body: bytes = b"") -> httpx.Response:
        """One signed request, its answer unread and unverified (``UpstreamUnavailable`` on no answer)."""
        try:
            return await self._http.request(method, url, content=body, headers=self._headers(method, url, body))
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{canonical_url(url)}: {type(exc).__name__}") from None

    @contextlib.asynccontextmanager
    async def stream(self, url: str) -> AsyncIterator[httpx.Response]:
        """A signed GET whose answer is streamed (bill files); connection errors are the caller's."""
        async with self._http.stream("GET", url, headers=self._headers("GET", url, b"")) as response:
            yield response

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        overrides: Mapping[str, type[UpstreamRejected]] | None = None,
    ) -> Answer:
        """Call ``path``; the verified JSON answer of a 2xx, else the mapped exception."""
        url = self.url(path, query)
        response = await self.send(method, url, body=dumps(dict(json)) if json is not None else b"")
        raw = response.content
        if len(raw) > MAX_ANSWER_BYTES:
            raise UpstreamUnavailable(f"{path}: answer larger than {MAX_ANSWER_BYTES} bytes")
        if 200 <= response.status_code < 300 or HEADER_SIGNATURE in response.headers:
            await self.verify(path, response.headers, raw)
        if not 200 <= response.status_code < 300:
            raise error_for(response.status_code, raw, context=path, overrides=overrides)
        if not raw:
            return Answer(response.status_code, {})
        try:
            return Answer(response.status_code, loads_object(raw, what=f"{path} answer", max_bytes=MAX_ANSWER_BYTES))
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: unreadable answer ({error.message})") from None

    async def verify(self, path: str, headers: Mapping[str, str], body: bytes) -> None:
        try:
            await self.platform.verify(headers, body)
        except SignatureError as error:
            log.error("%s answer signature refused: %s", path, error.code)
            raise UpstreamUnavailable(f"{path}: answer signature does not verify ({error.code})") from None
