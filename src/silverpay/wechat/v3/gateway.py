"""API v3 implementation of :class:`silverpay.wechat.gateway.PayGateway` over httpx.

It mirrors :class:`silverpay.wechat.v2.gateway.V2Gateway` call for call: the same neutral types in
and out, the same exceptions for the same outcomes. What v3 adds is notifications that need their
HTTP headers (the signature travels there) and may need I/O to verify (an unknown platform serial
means downloading certificates): :meth:`V3Gateway.parse_v3_notification`, served at
``/api/v1/wechat/v3/notify``. The body-only v2 methods refuse.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.errors import (
    ConfigError,
    NotificationRejected,
    ProtocolError,
    RefundNotFound,
    UpstreamRejected,
    UpstreamUnavailable,
)
from silverpay.wechat.gateway import (
    BillLine,
    Notification,
    NotificationReply,
    PayParams,
    Prepay,
    PrepayRequest,
    RefundRequest,
    RefundResult,
    TradeStatus,
)
from silverpay.wechat.v2 import bill
from silverpay.wechat.v3 import aead, paysign, resources
from silverpay.wechat.v3.client import V3Client
from silverpay.wechat.v3.json_body import dumps
from silverpay.wechat.v3.keys import is_public_key_id, load_private_key, load_public_key
from silverpay.wechat.v3.notification import (
    EVENT_REFUND_ABNORMAL,
    EVENT_REFUND_CLOSED,
    EVENT_REFUND_SUCCESS,
    EVENT_TRANSACTION_SUCCESS,
    V3Notification,
    parse_notification,
)
from silverpay.wechat.v3.platform_keys import MIN_REFRESH_INTERVAL_S, PlatformKeys
from silverpay.wechat.v3.signing import SIGNATURE_TYPE, Signer, Verifier, WechatpayHeaders, nonce_str

log = logging.getLogger(__name__)

PREPAY_TTL_S = 2 * 3600
REFUND_EVENTS = frozenset({EVENT_REFUND_SUCCESS, EVENT_REFUND_ABNORMAL, EVENT_REFUND_CLOSED})
NO_BILL = "NO_STATEMENT_EXIST"  # "要查询的账单文件不存在"
# Answers that promise nothing about a refund: the same request may be sent again later. v2 retries
# NOTENOUGH (the merchant's balance cannot cover it yet); v3 spells it NOT_ENOUGH.
REFUND_RETRYABLE = frozenset({"NOT_ENOUGH"})


@dataclass(frozen=True)
class V3Credentials:
    """Who the merchant is in v3: its API certificate serial and private key, its APIv3 key, and
    the platform's public key when WeChat gave it one (public-key mode; else certificates)."""

    mch_serial: str
    private_key: rsa.RSAPrivateKey
    api_v3_key: str
    public_key_id: str = ""
    public_key: rsa.RSAPublicKey | None = None

    @classmethod
    def from_pem(
        cls,
        *,
        mch_serial: str,
        private_key_pem: bytes | str,
        api_v3_key: str,
        public_key_id: str = "",
        public_key_pem: bytes | str | None = None,
    ) -> V3Credentials:
        """:class:`ConfigError` for anything that cannot work, naming the setting but never a value."""
        if not mch_serial.strip():
            raise ConfigError("the merchant certificate serial is missing")
        if len(api_v3_key.encode()) != aead.KEY_BYTES:
            raise ConfigError(f"the APIv3 key must be {aead.KEY_BYTES} bytes")
        if bool(public_key_id) != bool(public_key_pem):
            raise ConfigError("the WeChat Pay public key and its id go together: give both or neither")
        if public_key_id and not is_public_key_id(public_key_id):
            raise ConfigError("the WeChat Pay public key id must start with PUB_KEY_ID_")
        return cls(
            mch_serial=mch_serial.strip(),
            private_key=load_private_key(private_key_pem),
            api_v3_key=api_v3_key,
            public_key_id=public_key_id,
            public_key=load_public_key(public_key_pem) if public_key_pem else None,
        )


@dataclass(frozen=True)
class V3Event:
    """A notification whose signature held and whose resource decrypted and checked out: a
    payment (``payment``) or a refund (``refund``), or neither for an event type we do not act on."""

    id: str
    event_type: str
    nonce: str  # with ``id``, names this delivery: a replay repeats both (a WeChat retry does not)
    serial: str
    payment: Notification | None = None
    refund: RefundResult | None = None


@runtime_checkable
class V3Notifications(Protocol):
    """What the v3 notify endpoint needs from the configured gateway."""

    async def parse_v3_notification(self, headers: Mapping[str, str], body: bytes) -> V3Event: ...

    def reply(self, ok: bool, message: str = "OK") -> NotificationReply: ...


class V3Gateway:
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
        ``download_certificates=False`` trusts the configured public key alone."""
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
        self._client = V3Client(
            http,
            base_url=base_url,
            mchid=mch_id,
            signer=Signer(credentials.mch_serial, credentials.private_key),
            platform=self.platform,
            public_key_id=credentials.public_key_id,
            wall=wall,
        )

    async def _fetch_certificates(self) -> tuple[Mapping[str, str], bytes]:
        response = await self._client.send("GET", self._client.url("/v3/certificates"))
        if response.status_code != 200:
            raise UpstreamUnavailable(f"/v3/certificates: HTTP {response.status_code}")
        return response.headers, response.content

    # Outbound ---------------------------------------------------------------------------------

    async def prepay(self, request: PrepayRequest) -> Prepay:
        body = resources.jsapi_body(request, appid=self.appid, mchid=self.mch_id)
        answer = await self._client.call("POST", "/v3/pay/transactions/jsapi", json=body)
        prepay_id = answer.body.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise UpstreamUnavailable("/v3/pay/transactions/jsapi succeeded without a prepay_id")
        return Prepay(prepay_id, self._clock() + PREPAY_TTL_S)

    async def query(self, out_trade_no: str) -> TradeStatus:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        answer = await self._client.call("GET", path, query={"mchid": self.mch_id})
        self._check_ours(path, answer.body)
        try:
            return resources.trade_status(answer.body)
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: {error.message}") from None

    async def close(self, out_trade_no: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        await self._client.call("POST", path, json={"mchid": self.mch_id})  # 204

    def pay_params(self, prepay_id: str) -> PayParams:
        return paysign.pay_params(self._credentials.private_key, self.appid, prepay_id,
                                  time_stamp=str(int(self._clock())), nonce_str=nonce_str())  # fmt: skip

    async def refund(self, request: RefundRequest) -> RefundResult:
        path = "/v3/refund/domestic/refunds"
        try:
            answer = await self._client.call("POST", path, json=resources.refund_body(request))
        except UpstreamRejected as error:
            if error.upstream_code in REFUND_RETRYABLE:
                raise UpstreamUnavailable(error.message) from None
            raise
        try:
            result = resources.refund_result(answer.body)
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: {error.message}") from None
        if result.out_refund_no != request.out_refund_no:
            raise UpstreamUnavailable(f"{path}: the answer is about another refund")
        return result

    async def refund_query(self, out_refund_no: str) -> RefundResult:
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        answer = await self._client.call("GET", path, overrides={"RESOURCE_NOT_EXISTS": RefundNotFound})
        try:
            return resources.refund_result(answer.body)
        except ProtocolError as error:
            raise UpstreamUnavailable(f"{path}: {error.message}") from None

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        """``tradebill`` for the URL and hash, then the (unsigned, gzip) file, checked by its SHA1."""
        path = "/v3/bill/tradebill"
        try:
            answer = await self._client.call("GET", path, query=resources.bill_query(bill_date))
        except UpstreamRejected as error:
            if error.upstream_code == NO_BILL:
                return False
            raise
        url, hash_type, hash_value = (answer.body.get(k) for k in ("download_url", "hash_type", "hash_value"))
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
            async with self._client.stream(url) as response:
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

    def read_bill(self, path: Path) -> Iterator[BillLine]:
        # The v3 trade bill has the v2 text format (same columns, backtick-prefixed fields), kept gzipped.
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            yield from bill.parse(lines)

    def _check_ours(self, path: str, doc: Mapping[str, object]) -> None:
        if doc.get("appid", self.appid) != self.appid or doc.get("mchid", self.mch_id) != self.mch_id:
            raise UpstreamUnavailable(f"{path}: answer is for another merchant")

    # Inbound ----------------------------------------------------------------------------------

    async def parse_v3_notification(self, headers: Mapping[str, str], body: bytes) -> V3Event:
        """Verify (refreshing certificates once for an unknown serial), decrypt, check it is ours.

        Raises :class:`NotificationRejected`: its ``code`` says why (``SIGNATURE_UNKNOWN_SERIAL``
        also when the certificate download that might have named the key failed or was too soon
        after the last one: WeChat retries), its ``claimed_out_trade_no`` is set once the resource
        decrypted.
        """
        try:
            await self.platform.verify(headers, body)  # may fetch certificates: I/O, hence async
            # Verified already: parse_notification's own check holds with the same keys and clock.
            parsed = parse_notification(headers, body, verifier=self.platform.verifier,
                                        api_v3_key=self._credentials.api_v3_key, now=self.platform.now())  # fmt: skip
        except ProtocolError as error:  # SignatureError, DecryptionError, a malformed envelope
            raise NotificationRejected(error.message, code=error.code) from None
        signed = WechatpayHeaders.from_headers(headers)
        event = V3Event(parsed.id, parsed.event_type, signed.nonce, parsed.serial)
        if parsed.event_type == EVENT_TRANSACTION_SUCCESS:
            return replace(event, payment=self._payment(parsed))
        if parsed.event_type in REFUND_EVENTS:
            return replace(event, refund=self._refund(parsed))
        return event

    def _payment(self, parsed: V3Notification) -> Notification:
        doc = parsed.resource
        claimed = resources.claimed_out_trade_no(doc)
        if doc.get("appid") != self.appid:
            raise NotificationRejected("appid is not ours", code="APPID_MISMATCH", claimed_out_trade_no=claimed)
        if doc.get("mchid") != self.mch_id:
            raise NotificationRejected("mchid is not ours", code="MCH_ID_MISMATCH", claimed_out_trade_no=claimed)
        try:
            trade = resources.trade_status(doc)
        except ProtocolError as error:
            raise NotificationRejected(error.message, code=error.code, claimed_out_trade_no=claimed) from None
        return Notification(trade, SIGNATURE_TYPE)

    def _refund(self, parsed: V3Notification) -> RefundResult:
        doc = parsed.resource
        claimed = resources.claimed_out_trade_no(doc)
        if doc.get("mchid") != self.mch_id:
            raise NotificationRejected("refund notification is for another merchant", code="MERCHANT_MISMATCH",
                                       claimed_out_trade_no=claimed)  # fmt: skip
        try:
            return resources.refund_result(doc, status_field="refund_status")
        except ProtocolError as error:
            raise NotificationRejected(error.message, code=error.code, claimed_out_trade_no=claimed) from None

    def parse_notification(self, body: bytes) -> Notification:
        raise NotificationRejected("a v3 notification is verified with its headers at /api/v1/wechat/v3/notify",
                                   code="WRONG_ENDPOINT")  # fmt: skip

    def parse_refund_notification(self, body: bytes) -> RefundResult:
        raise NotificationRejected("a v3 notification is verified with its headers at /api/v1/wechat/v3/notify",
                                   code="WRONG_ENDPOINT")  # fmt: skip

    def reply(self, ok: bool, message: str = "OK") -> NotificationReply:
        """204 stops WeChat's retries (SPEC §3.4: 200 or 204, no body needed); a failure is a 4xx
        with ``{"code":"FAIL","message":…}``, which asks for them."""
        if ok:
            return NotificationReply(204, b"", "application/json")
        return NotificationReply(400, dumps({"code": "FAIL", "message": message}), "application/json")


__all__ = ["V3Credentials", "V3Event", "V3Gateway", "V3Notifications"]
