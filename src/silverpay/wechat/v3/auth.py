"""v3 request signing and answer verification as an :class:`httpx.Auth` (SPEC §3.1, §3.2).

:class:`WechatPaySigner` adds the ``Authorization`` header to a request (and names the platform
public key WeChat should answer with). :class:`WechatPayAuth` also verifies the answer's
``Wechatpay-*`` signature before the caller reads it: a 2xx always, an error answer when it carries
a signature (WeChat's gateway does not sign every error; the official SDKs read those as they are).
An answer that fails verification raises :class:`UpstreamUnavailable`: nothing in it can be trusted,
so the outcome of the call is unknown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable

import httpx

from silverpay.errors import SignatureError, UpstreamUnavailable
from silverpay.wechat.v3.platform_keys import PlatformKeys
from silverpay.wechat.v3.signing import HEADER_SERIAL, HEADER_SIGNATURE, Signer, canonical_url, nonce_str

log = logging.getLogger(__name__)

USER_AGENT = "silverpay/0.1 (WeChat Pay API v3)"
MAX_ANSWER_BYTES = 1024 * 1024


class WechatPaySigner(httpx.Auth):
    """Signs requests only: for downloads whose answer is not signed (bill files) and for the
    certificate download, whose answer is verified by the certificates it carries."""

    def __init__(
        self, *, mchid: str, signer: Signer, public_key_id: str = "", wall: Callable[[], float] = time.time
    ) -> None:
        self._mchid = mchid
        self._signer = signer
        self._public_key_id = public_key_id
        self._wall = wall

    def sign(self, request: httpx.Request, body: bytes) -> None:
        url = str(request.url)
        request.headers["Authorization"] = self._signer.authorization(
            mchid=self._mchid, method=request.method, url=url, body=body, timestamp=int(self._wall()),
            nonce=nonce_str(),
        )  # fmt: skip
        request.headers["Accept"] = "application/json"
        request.headers["User-Agent"] = USER_AGENT
        if self._public_key_id:
            # Names the key WeChat should answer with; during the switch from certificates it moves
            # this merchant's answers to the public key (the switch guide asks for it on every request).
            request.headers[HEADER_SERIAL] = self._public_key_id

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.sign(request, await request.aread())
        yield request


class WechatPayAuth(WechatPaySigner):
    """Signs requests and verifies answers with the platform keys (downloading certificates once
    for an unknown serial)."""

    def __init__(
        self, *, mchid: str, signer: Signer, platform: PlatformKeys, public_key_id: str = "",
        wall: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        super().__init__(mchid=mchid, signer=signer, public_key_id=public_key_id, wall=wall)
        self.platform = platform

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.sign(request, await request.aread())
        response = yield request
        path = canonical_url(str(request.url))
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise UpstreamUnavailable(f"{path}: answer larger than {MAX_ANSWER_BYTES} bytes")
        body = await response.aread()
        if len(body) > MAX_ANSWER_BYTES:
            raise UpstreamUnavailable(f"{path}: answer larger than {MAX_ANSWER_BYTES} bytes")
        if response.is_success or HEADER_SIGNATURE in response.headers:
            try:
                await self.platform.verify(response.headers, body)
            except SignatureError as error:
                log.error("%s answer signature refused: %s", path, error.code)
                raise UpstreamUnavailable(f"{path}: answer signature does not verify ({error.code})") from None
