"""API v3 outbound: :class:`V3PayClient`, the :class:`~silverpay.wechat.gateway.PayClient` over
JSON and httpx. Requests are signed and answers verified by :mod:`.auth`; errors are read by
:mod:`.error_map` the way v2's are: :class:`UpstreamUnavailable` whenever the outcome is unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from silverpay.errors import ProtocolError, RefundNotFound, UpstreamRejected, UpstreamUnavailable
from silverpay.wechat.gateway import PayParams, Prepay, PrepayRequest, RefundRequest, RefundResult, TradeStatus
from silverpay.wechat.v3 import paysign, resources
from silverpay.wechat.v3.auth import WechatPayAuth, WechatPaySigner
from silverpay.wechat.v3.credentials import V3Credentials
from silverpay.wechat.v3.error_map import error_for
from silverpay.wechat.v3.json_body import dumps, loads_object
from silverpay.wechat.v3.platform_keys import MIN_REFRESH_INTERVAL_S, PlatformKeys
from silverpay.wechat.v3.signing import Signer, Verifier, nonce_str

PREPAY_TTL_S = 2 * 3600
NO_BILL = "NO_STATEMENT_EXIST"  # "要查询的账单文件不存在"
# Answers that promise nothing about a refund: the same request may be sent again later. v2 retries
# NOTENOUGH (the merchant's balance cannot cover it yet); v3 spells it NOT_ENOUGH.
REFUND_RETRYABLE = frozenset({"NOT_ENOUGH"})


class V3PayClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        appid: str,
        mch_id: str,
        credentials: V3Credentials,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.time,
        refresh_interval_s: float = MIN_REFRESH_INTERVAL_S,
        download_certificates: bool = True,
    ) -> None:
        """``clock`` is business time (prepay expiry, paySign timeStamp); ``wall`` is the time
        signatures carry and are checked against, which both sides read from their real clocks.
        ``download_certificates=False`` trusts the configured public key alone. The platform keys
        (:attr:`platform`) are shared with the notification verifier."""
        self._http = http
        self._base_url = base_url.rstrip("/")
        self.appid = appid
        self.mch_id = mch_id
        self._credentials = credentials
        self._clock = clock
        verifier = Verifier()
        if credentials.public_key is not None:
            verifier.add_key(credentials.public_key_id, credentials.public_key)
        self.platform = PlatformKeys(
            verifier,
            api_v3_key=credentials.api_v3_key,
            fetch=self._fetch_certificates if download_certificates else None,
            clock=wall,
            min_interval_s=refresh_interval_s,
        )
        signer = Signer(credentials.mch_serial, credentials.private_key)
        identity = {"mchid": mch_id, "signer": signer, "public_key_id": credentials.public_key_id, "wall": wall}
        self._sign_only = WechatPaySigner(**identity)  # type: ignore[arg-type]
        self._auth = WechatPayAuth(platform=self.platform, **identity)  # type: ignore[arg-type]

    # Calls ------------------------------------------------------------------------------------

    def _url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        return self._base_url + path + ("?" + urlencode(query) if query else "")

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        overrides: Mapping[str, type[UpstreamRejected]] | None = None,
    ) -> dict[str, Any]:
        """The verified JSON answer of a 2xx (``{}`` for 204), else the mapped exception."""
        body = dumps(dict(json)) if json is not None else b""
        headers = {"Content-Type": "application/json"} if body else {}
        try:
            response = await self._http.request(method, self._url(path, query), content=body, headers=headers,
                                                auth=self._auth)  # fmt: skip
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{path}: {type(exc).__name__}") from None
        if not response.is_success:
            raise error_for(response.status_code, response.content, context=path, overrides=overrides)
        if not response.content:
            return {}
        try:
            return loads_object(response.content, what=f"{path} answer", max_bytes=len(response.content))
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: unreadable answer ({error.message})") from None

    async def _fetch_certificates(self) -> tuple[Mapping[str, str], bytes]:
        """The raw ``/v3/certificates`` answer: :mod:`.platform_keys` verifies it with what it carries."""
        try:
            response = await self._http.get(self._url("/v3/certificates"), auth=self._sign_only)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"/v3/certificates: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"/v3/certificates: HTTP {response.status_code}")
        return response.headers, response.content

    # PayClient --------------------------------------------------------------------------------

    async def prepay(self, request: PrepayRequest) -> Prepay:
        body = resources.jsapi_body(request, appid=self.appid, mchid=self.mch_id)
        answer = await self._call("POST", "/v3/pay/transactions/jsapi", json=body)
        prepay_id = answer.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise UpstreamUnavailable("/v3/pay/transactions/jsapi succeeded without a prepay_id")
        return Prepay(prepay_id, self._clock() + PREPAY_TTL_S)

    async def query(self, out_trade_no: str) -> TradeStatus:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        answer = await self._call("GET", path, query={"mchid": self.mch_id})
        try:
            trade = resources.transaction(answer)
            if (trade.appid or self.appid) != self.appid or (trade.mchid or self.mch_id) != self.mch_id:
                raise UpstreamUnavailable(f"{path}: answer is for another merchant")
            return resources.trade_status(answer)
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: {error.message}") from None

    async def close(self, out_trade_no: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        await self._call("POST", path, json={"mchid": self.mch_id})  # 204

    def pay_params(self, prepay_id: str) -> PayParams:
        return paysign.pay_params(self._credentials.private_key, self.appid, prepay_id,
                                  time_stamp=str(int(self._clock())), nonce_str=nonce_str())  # fmt: skip

    async def refund(self, request: RefundRequest) -> RefundResult:
        path = "/v3/refund/domestic/refunds"
        try:
            answer = await self._call("POST", path, json=resources.refund_body(request))
        except UpstreamRejected as error:
            if error.upstream_code in REFUND_RETRYABLE:
                raise UpstreamUnavailable(error.message) from None
            raise
        try:
            result = resources.refund_result(answer)
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: {error.message}") from None
        if result.out_refund_no != request.out_refund_no:
            raise UpstreamUnavailable(f"{path}: the answer is about another refund")
        return result

    async def refund_query(self, out_refund_no: str) -> RefundResult:
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        answer = await self._call("GET", path, overrides={"RESOURCE_NOT_EXISTS": RefundNotFound})
        try:
            return resources.refund_result(answer)
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: {error.message}") from None

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        """``tradebill`` for the URL and hash, then the (unsigned, gzip) file, checked by its SHA1."""
        path = "/v3/bill/tradebill"
        try:
            answer = await self._call("GET", path, query=resources.bill_query(bill_date))
        except UpstreamRejected as error:
            if error.upstream_code == NO_BILL:
                return False
            raise
        url, hash_type, hash_value = (answer.get(k) for k in ("download_url", "hash_type", "hash_value"))
        if not (isinstance(url, str) and url.startswith(("https://", "http://"))) or not isinstance(hash_value, str):
            raise UpstreamUnavailable(f"{path}: answer has no download_url or hash_value")
        if hash_type != "SHA1":
            raise UpstreamUnavailable(f"{path}: hash_type {hash_type!r} is not SHA1")
        digest = await self._download(url, dest)
        if not hmac.compare_digest(digest, hash_value.lower()):
            os.remove(dest)  # a partial or altered bill must not be read
            raise UpstreamUnavailable("bill download: SHA1 of the bill does not match hash_value")
        return True

    async def _download(self, url: str, dest: Path) -> str:
        """Stream the gzip file into ``dest`` as served; the SHA1 of the bill inside it, which is what
        ``hash_value`` covers ("原始账单（gzip需要解压缩）的摘要值"), inflated on the way."""
        inflate = zlib.decompressobj(wbits=31)  # gzip
        digest = hashlib.sha1(usedforsecurity=False)  # WeChat's integrity check, not a security one
        try:
            async with self._http.stream("GET", url, auth=self._sign_only) as response:
                if response.status_code != 200:
                    raise UpstreamUnavailable(f"bill download: HTTP {response.status_code}")
                with dest.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        digest.update(inflate.decompress(chunk))
                    digest.update(inflate.flush())
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"bill download: {type(exc).__name__}") from None
        except zlib.error:
            raise UpstreamUnavailable("bill download: the bill is not valid gzip") from None
        if not inflate.eof:
            raise UpstreamUnavailable("bill download: the gzip stream is truncated")
        return digest.hexdigest()
