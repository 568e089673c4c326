"""The v3 pay client against a scripted WeChat (httpx.MockTransport): the requests it signs, and how
each kind of answer maps to the same exceptions as v2 (unknown outcome vs. definite refusal)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from silverpay.errors import (
    ConfigError,
    RefundNotFound,
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    TradeParamsDiffer,
    UpstreamMisconfigured,
    UpstreamUnavailable,
)
from silverpay.wechat.gateway import PrepayRequest, RefundRequest
from silverpay.wechat.v3 import keys, paysign
from silverpay.wechat.v3.client import V3PayClient
from silverpay.wechat.v3.credentials import V3Credentials
from silverpay.wechat.v3.json_body import dumps
from silverpay.wechat.v3.signing import Signer, Verifier

API_V3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
APPID, MCHID, SERIAL = "wx8888888888888888", "1900009191", "5A1B0E9C4D3F2E1A0B9C8D7E6F5A4B3C2D1E0F9A"
PUB_KEY_ID = "PUB_KEY_ID_0119000091912025010100000000000000"
MERCHANT = keys.generate_private_key()
PLATFORM = keys.generate_private_key()

Handler = Callable[[httpx.Request], httpx.Response]


def answer(status: int, doc: dict[str, Any] | None = None, *, sign: bool = True, key: Any = PLATFORM) -> httpx.Response:
    body = dumps(doc) if doc is not None else b""
    headers = Signer(PUB_KEY_ID, key).wechatpay_headers(body, timestamp=int(time.time()), nonce="n") if sign else {}
    return httpx.Response(status, content=body, headers={**headers, "Content-Type": "application/json"})


def client(handler: Handler) -> V3PayClient:
    credentials = V3Credentials.from_pem(
        mch_serial=SERIAL, private_key_pem=keys.private_key_pem(MERCHANT), api_v3_key=API_V3_KEY,
        public_key_id=PUB_KEY_ID, public_key_pem=keys.public_key_pem(PLATFORM.public_key()),
    )  # fmt: skip
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return V3PayClient(http, base_url="https://api.mch.test", appid=APPID, mch_id=MCHID, credentials=credentials)


PREPAY = PrepayRequest("SP0001", "coffee", 1234, "o-openid", "https://m.test/api/v1/wechat/v3/notify",
                       1_800_000_000.0, "10.0.0.1")  # fmt: skip


async def test_prepay_request_is_signed_over_the_exact_bytes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(200, {"prepay_id": "wx123"})

    prepay = await client(handler).prepay(PREPAY)
    assert prepay.prepay_id == "wx123"
    request = seen[0]
    assert request.url.path == "/v3/pay/transactions/jsapi"
    assert request.headers["Wechatpay-Serial"] == PUB_KEY_ID  # public-key mode names its key
    assert request.headers["Content-Type"] == "application/json"
    Verifier({SERIAL: MERCHANT.public_key()}).verify_request(
        request.headers["Authorization"], method="POST", url=str(request.url), body=request.content,
        now=time.time(), mchid=MCHID,
    )  # fmt: skip
    body = json.loads(request.content)
    assert body["amount"] == {"total": 1234, "currency": "CNY"} and body["payer"] == {"openid": "o-openid"}
    assert body["time_expire"].endswith("+08:00") and body["scene_info"] == {"payer_client_ip": "10.0.0.1"}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, sign=False), TradeNotFound),
        (lambda: answer(400, {"code": "ORDER_CLOSED", "message": "订单已关闭"}), TradeClosed),
        (lambda: answer(400, {"code": "ORDERPAID", "message": "该订单已支付"}), TradeAlreadyPaid),
        (lambda: answer(403, {"code": "OUT_TRADE_NO_USED", "message": "商户订单号重复"}), TradeParamsDiffer),
        (lambda: answer(401, {"code": "SIGN_ERROR", "message": "签名错误"}, sign=False), UpstreamMisconfigured),
        (lambda: answer(500, {"code": "SYSTEM_ERROR", "message": "系统繁忙"}), UpstreamUnavailable),
        (lambda: answer(502, None, sign=False), UpstreamUnavailable),
        (lambda: answer(429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"}), UpstreamUnavailable),
        # A signed error that does not verify cannot be believed either way.
        (lambda: answer(404, {"code": "ORDER_NOT_EXIST", "message": "x"}, key=MERCHANT), UpstreamUnavailable),
        # 2xx answers must be signed, and by the platform.
        (lambda: answer(200, {"prepay_id": "wx1"}, sign=False), UpstreamUnavailable),
        (lambda: answer(200, {"prepay_id": "wx1"}, key=MERCHANT), UpstreamUnavailable),
        (lambda: answer(200, {}), UpstreamUnavailable),  # no prepay_id
    ],
)
async def test_answers_map_to_v2s_exceptions(make: Callable[[], httpx.Response], expected: type[Exception]) -> None:
    response = make()  # signed now: a signature made at collection time would be stale in a long run
    with pytest.raises(expected) as raised:
        await client(lambda _: response).prepay(PREPAY)
    assert type(raised.value) is expected


async def test_no_answer_is_an_unknown_outcome() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(UpstreamUnavailable, match="ConnectTimeout"):
        await client(handler).query("SP0001")


async def test_query_answer_for_another_merchant_is_not_believed() -> None:
    doc = {"appid": APPID, "mchid": "1900000001", "out_trade_no": "SP0001", "trade_state": "NOTPAY",
           "amount": {"total": 1}}  # fmt: skip
    with pytest.raises(UpstreamUnavailable, match="another merchant"):
        await client(lambda _: answer(200, doc)).query("SP0001")


async def test_close_is_204_and_quoted() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(204)

    await client(handler).close("A|B*1")
    assert seen[0].url.raw_path == b"/v3/pay/transactions/out-trade-no/A%7CB%2A1/close"
    assert json.loads(seen[0].content) == {"mchid": MCHID}


async def test_refund_errors() -> None:
    request = RefundRequest("SP0001", "RF1", 100, 40, "why", "")
    busy = answer(403, {"code": "NOT_ENOUGH", "message": "余额不足"})
    with pytest.raises(UpstreamUnavailable):  # v2 retries NOTENOUGH: so does v3
        await client(lambda _: busy).refund(request)
    with pytest.raises(RefundNotFound):
        await client(lambda _: answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})).refund_query(
            "RF1"
        )
    other = {"out_refund_no": "RF2", "status": "PROCESSING", "amount": {"refund": 40}}
    with pytest.raises(UpstreamUnavailable, match="another refund"):
        await client(lambda _: answer(200, other)).refund(request)


async def test_no_bill_is_false_and_a_bad_url_is_unknown(tmp_path: Path) -> None:
    none = answer(400, {"code": "NO_STATEMENT_EXIST", "message": "要查询的账单文件不存在"})
    assert await client(lambda _: none).download_bill(date(2026, 1, 1), tmp_path / "b") is False
    odd = answer(200, {"download_url": "ftp://x", "hash_type": "SHA1", "hash_value": "00"})
    with pytest.raises(UpstreamUnavailable):
        await client(lambda _: odd).download_bill(date(2026, 1, 1), tmp_path / "b")


def test_pay_params_are_signed_with_the_merchant_key() -> None:
    gw = client(lambda _: answer(500))
    params = gw.pay_params("wx201410272009395522657a690389285100")
    assert params.signType == "RSA" and params.package == "prepay_id=wx201410272009395522657a690389285100"
    paysign.verify_pay_sign(MERCHANT.public_key(), APPID, params.timeStamp, params.nonceStr, params.package,
                            params.paySign)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_v3_key": "short"}, "APIv3 key must be 32 bytes"),
        ({"public_key_pem": None}, "give both or neither"),
        ({"public_key_id": "0119000091912025"}, "PUB_KEY_ID_"),
        ({"private_key_pem": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}, "private key"),
        ({"mch_serial": " "}, "serial is missing"),
    ],
)
def test_credentials_refuse_what_cannot_work_without_echoing_it(change: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "mch_serial": SERIAL, "private_key_pem": keys.private_key_pem(MERCHANT), "api_v3_key": API_V3_KEY,
        "public_key_id": PUB_KEY_ID, "public_key_pem": keys.public_key_pem(PLATFORM.public_key()),
    }  # fmt: skip
    with pytest.raises(ConfigError, match=message) as raised:
        V3Credentials.from_pem(**(args | change))
    assert API_V3_KEY not in raised.value.message and "short" not in raised.value.message
