"""API v2 outbound: :class:`V2PayClient`, the :class:`~silverpay.wechat.gateway.PayClient` over XML and httpx."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

import httpx

from silverpay.beijing import format_beijing, parse_beijing, parse_beijing_dashed
from silverpay.domain.orders import WechatTradeState
from silverpay.domain.refunds import RefundStatus
from silverpay.errors import (
    ProtocolError,
    RefundNotFound,
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    TradeParamsDiffer,
    UpstreamRejected,
    UpstreamUnavailable,
    XmlError,
)
from silverpay.wechat.gateway import (
    PayParams,
    Prepay,
    PrepayRequest,
    RefundRequest,
    RefundResult,
    TradeStatus,
)
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType

log = logging.getLogger(__name__)

PREPAY_TTL_S = 2 * 3600
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
GZIP_MAGIC = b"\x1f\x8b"
# Answers that promise nothing about the outcome: the same call may be repeated later.
RETRYABLE = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED", "NOTENOUGH", "INVALID_REQ_TOO_MUCH"})
BY_ERR_CODE: dict[str, type[UpstreamRejected]] = {
    "ORDERPAID": TradeAlreadyPaid,
    "ORDERCLOSED": TradeClosed,
    "ORDERNOTEXIST": TradeNotFound,
    "REFUNDNOTEXIST": RefundNotFound,
    "OUT_TRADE_NO_USED": TradeParamsDiffer,
}


class V2PayClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        cert_http: httpx.AsyncClient | None = None,
        base_url: str,
        appid: str,
        mch_id: str,
        api_key: str,
        sign_type: SignType = SignType.HMAC_SHA256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._cert_http = cert_http or http  # money-out calls need the merchant certificate (mTLS)
        self._base_url = base_url.rstrip("/")
        self.appid = appid
        self.mch_id = mch_id
        self._api_key = api_key
        self.sign_type = sign_type
        self._clock = clock

    # Outbound ---------------------------------------------------------------------------------

    async def prepay(self, request: PrepayRequest) -> Prepay:
        # Every field is derived from the order, so a retried call is an identical re-entry (SPEC §2.3).
        answer = await self._call(
            "/pay/unifiedorder",
            {
                "body": request.description,
                "out_trade_no": request.out_trade_no,
                "total_fee": request.amount_fen,
                "spbill_create_ip": request.client_ip,
                "notify_url": request.notify_url,
                "trade_type": "JSAPI",
                "openid": request.openid,
                "time_expire": format_beijing(request.expires_at),
            },
            out_trade_no=request.out_trade_no,
        )
        prepay_id = answer.get("prepay_id", "")
        if not prepay_id:
            raise UpstreamUnavailable("unifiedorder succeeded without a prepay_id")
        return Prepay(prepay_id, self._clock() + PREPAY_TTL_S)

    async def query(self, out_trade_no: str) -> TradeStatus:
        answer = await self._call("/pay/orderquery", {"out_trade_no": out_trade_no}, out_trade_no=out_trade_no)
        try:
            return trade_status(answer, state_field="trade_state")
        except ProtocolError as exc:  # a signed but unreadable answer tells us nothing: ask again later
            raise UpstreamUnavailable(f"/pay/orderquery: {exc.message}") from None

    async def close(self, out_trade_no: str) -> None:
        await self._call("/pay/closeorder", {"out_trade_no": out_trade_no}, out_trade_no=out_trade_no)

    def pay_params(self, prepay_id: str) -> PayParams:
        time_stamp, nonce, package = str(int(self._clock())), signing.nonce_str(), f"prepay_id={prepay_id}"
        pay_sign = signing.pay_sign(self.appid, time_stamp, nonce, package, self.sign_type, key=self._api_key)
        return PayParams(time_stamp, nonce, package, self.sign_type.value, pay_sign)

    async def refund(self, request: RefundRequest) -> RefundResult:
        answer = await self._call(
            "/secapi/pay/refund",
            {
                "out_trade_no": request.out_trade_no,
                "out_refund_no": request.out_refund_no,
                "total_fee": request.total_fen,
                "refund_fee": request.refund_fen,
                "refund_desc": request.reason or None,
                "notify_url": request.notify_url or None,
            },
            out_trade_no=request.out_trade_no,
            http=self._cert_http,
        )
        try:
            refund_fen = int(answer.get("refund_fee", ""))
        except ValueError:
            raise UpstreamUnavailable("refund answer has no refund_fee") from None
        return RefundResult(
            request.out_refund_no,
            request.out_trade_no,
            answer.get("refund_id", ""),
            RefundStatus.PROCESSING,
            refund_fen,
        )

    async def refund_query(self, out_refund_no: str) -> RefundResult:
        answer = await self._call("/pay/refundquery", {"out_refund_no": out_refund_no}, out_trade_no="")
        count = int(answer.get("refund_count", "0") or 0)
        for n in range(count):
            if answer.get(f"out_refund_no_{n}") == out_refund_no:
                success = answer.get(f"refund_success_time_{n}", "")
                try:
                    return RefundResult(
                        out_refund_no=out_refund_no,
                        out_trade_no=answer.get("out_trade_no", ""),
                        refund_id=answer.get(f"refund_id_{n}", ""),
                        status=refund_status(answer.get(f"refund_status_{n}", "")),
                        refund_fen=int(answer.get(f"refund_fee_{n}", "")),
                        succeeded_at=parse_beijing_dashed(success) if success else None,
                    )
                except (ValueError, ProtocolError):
                    raise UpstreamUnavailable("refundquery answer is malformed") from None
        raise RefundNotFound(f"refundquery does not list {out_refund_no}", upstream_code="REFUNDNOTEXIST")

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        """The gzip bill, written to ``dest`` as served (reconciliation reads it compressed)."""
        message = self._signed({"bill_date": bill_date.strftime("%Y%m%d"), "bill_type": "ALL", "tar_type": "GZIP"})
        try:
            async with self._http.stream(
                "POST", self._base_url + "/pay/downloadbill", content=message, headers=XML_HEADERS
            ) as response:
                if response.status_code != 200:
                    raise UpstreamUnavailable(f"/pay/downloadbill: HTTP {response.status_code}")
                chunks = response.aiter_bytes()
                first = b""
                while len(first) < 5 and (chunk := await anext(chunks, b"")):
                    first += chunk
                if first.lstrip().startswith(b"<xml"):  # an error answer is XML, a bill is gzip
                    answer = xml.decode(first + b"".join([c async for c in chunks]))
                    if answer.get("return_msg", "").lower() == "no bill exist":
                        return False
                    raise UpstreamRejected(f"/pay/downloadbill: {answer.get('return_msg', '')}", upstream_code="FAIL")
                if not first.startswith(GZIP_MAGIC):  # asked for GZIP; a damaged stream shows when it is read
                    raise UpstreamUnavailable("/pay/downloadbill: the bill is not gzip")
                with dest.open("wb") as out:
                    out.write(first)
                    async for chunk in chunks:
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"/pay/downloadbill: {type(exc).__name__}") from None
        return True

    def _signed(self, params: Mapping[str, object]) -> bytes:
        message: dict[str, object] = {"appid": self.appid, "mch_id": self.mch_id, "nonce_str": signing.nonce_str()}
        message |= params
        if self.sign_type is SignType.HMAC_SHA256:
            message["sign_type"] = self.sign_type.value
        message["sign"] = signing.sign(message, self._api_key, self.sign_type)
        return xml.encode(message).encode()

    async def _call(
        self, path: str, params: Mapping[str, object], *, out_trade_no: str, http: httpx.AsyncClient | None = None
    ) -> dict[str, str]:
        try:
            response = await (http or self._http).post(
                self._base_url + path, content=self._signed(params), headers=XML_HEADERS
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{path}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"{path}: HTTP {response.status_code}")
        try:
            answer = xml.decode(response.content)
        except XmlError as exc:
            raise UpstreamUnavailable(f"{path}: unreadable answer ({exc.message})") from None
        if answer.get("return_code") != "SUCCESS":
            raise UpstreamRejected(f"{path}: {answer.get('return_msg', 'return_code=FAIL')}", upstream_code="FAIL")
        self._check_answer(path, answer, out_trade_no)
        if answer.get("result_code") != "SUCCESS":
            err_code = answer.get("err_code", "")
            detail = f"{path}: {err_code} {answer.get('err_code_des', '')}".strip()
            if err_code in RETRYABLE:
                raise UpstreamUnavailable(detail)
            raise BY_ERR_CODE.get(err_code, UpstreamRejected)(detail, upstream_code=err_code)
        return answer

    def _check_answer(self, path: str, answer: dict[str, str], out_trade_no: str) -> None:
        # WeChat signs answers the way the request was signed and does not echo sign_type.
        declared = answer.get("sign_type")
        sign_type = SignType.parse(declared) if declared else self.sign_type
        expected = signing.sign(answer, self._api_key, sign_type)
        if not hmac.compare_digest(expected.encode(), answer.get("sign", "").encode()):
            log.error("%s answer has a bad signature out_trade_no=%s", path, out_trade_no)
            raise UpstreamUnavailable(f"{path}: answer signature does not verify")
        if answer.get("appid", self.appid) != self.appid or answer.get("mch_id", self.mch_id) != self.mch_id:
            raise UpstreamUnavailable(f"{path}: answer is for another merchant")


def trade_status(fields: Mapping[str, str], *, state_field: str) -> TradeStatus:
    try:
        state = WechatTradeState(fields.get(state_field, ""))
        # Unpaid trades may come back without payment fields; a paid one must say what was paid.
        paid = state in (WechatTradeState.SUCCESS, WechatTradeState.REFUND)
        amount = int(fields["total_fee"]) if paid or fields.get("total_fee") else 0
        paid_at = parse_beijing(fields["time_end"]) if fields.get("time_end") else None
    except (KeyError, ValueError, ProtocolError):
        raise ProtocolError("trade fields are malformed", code="TRADE_FIELDS_INVALID") from None
    out_trade_no = fields.get("out_trade_no", "")
    if not out_trade_no:
        raise ProtocolError("trade has no out_trade_no", code="TRADE_FIELDS_INVALID")
    return TradeStatus(
        out_trade_no=out_trade_no,
        state=state,
        amount_fen=amount,
        transaction_id=fields.get("transaction_id", ""),
        paid_at=paid_at,
        openid=fields.get("openid", ""),
    )


__all__ = ["V2PayClient", "refund_status", "trade_status"]


# v2's refund_status words (SPEC §2.8): REFUNDCLOSE is closed, CHANGE needs a human.
_REFUND_STATUS = {
    "SUCCESS": RefundStatus.SUCCESS,
    "PROCESSING": RefundStatus.PROCESSING,
    "REFUNDCLOSE": RefundStatus.CLOSED,
    "CHANGE": RefundStatus.ABNORMAL,
}


def refund_status(word: str) -> RefundStatus:
    """:class:`ValueError` for a word WeChat v2 does not use."""
    try:
        return _REFUND_STATUS[word]
    except KeyError:
        raise ValueError(f"unknown refund status {word!r}") from None
