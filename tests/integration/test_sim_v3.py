"""The simulator's API v3 over HTTP (in-process ASGI): strict request signatures, v3 errors, the
v2 rules behind the v3 wire, signed and encrypted notifications, certificates and bills."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from silverpay.sim.config import CLOSE_MIN_AGE_S, DEMO_API_V3_KEY, DEMO_APPID, DEMO_MCH_ID, Merchant, SimConfig
from silverpay.wechat.v2 import bill
from silverpay.wechat.v3 import certificates
from silverpay.wechat.v3.json_body import dumps
from silverpay.wechat.v3.notification import parse_notification
from silverpay.wechat.v3.signing import SIGNTEST_PREFIX
from tests.conftest import SimHarness
from tests.service_harness import MERCHANT_SERIAL, V3Signing
from tests.service_harness import sim_config as make_sim_config

NOTIFY_URL = "https://merchant.test/api/v1/wechat/v3/notify"


@pytest.fixture
def sim_config() -> SimConfig:
    """Overrides conftest's: the demo merchant with a v3 identity (the harness's test key)."""
    return make_sim_config("v3", time_scale=0.001, key_mode="certificate")


@pytest.fixture
def wire(harness: SimHarness) -> V3Signing:
    return V3Signing(harness.sim)


async def call(h: SimHarness, wire: V3Signing, method: str, url: str, body: Any = None, **sign: Any) -> httpx.Response:
    raw = dumps(body) if body is not None else b""
    return await h.client.request(method, url, content=raw, headers=wire.headers(method, url, raw, **sign))


def order_body(out_trade_no: str, openid: str, total: int = 100, **extra: Any) -> dict[str, Any]:
    return {
        "appid": DEMO_APPID, "mchid": DEMO_MCH_ID, "description": "v3 test", "out_trade_no": out_trade_no,
        "notify_url": NOTIFY_URL, "amount": {"total": total, "currency": "CNY"}, "payer": {"openid": openid},
        **extra,
    }  # fmt: skip


def new_no() -> str:
    return "V3" + secrets.token_hex(8)


async def create(h: SimHarness, wire: V3Signing, openid: str, **extra: Any) -> tuple[str, str]:
    out_trade_no = new_no()
    response = await call(h, wire, "POST", "/v3/pay/transactions/jsapi", order_body(out_trade_no, openid, **extra))
    assert response.status_code == 200, response.text
    return out_trade_no, response.json()["prepay_id"]


async def query(h: SimHarness, wire: V3Signing, out_trade_no: str) -> httpx.Response:
    return await call(h, wire, "GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={DEMO_MCH_ID}")


async def pay(h: SimHarness, wire: V3Signing, prepay_id: str, openid: str) -> httpx.Response:
    return await h.client.post("/sim/v1/pay", json={**wire.pay_params(prepay_id), "appid": DEMO_APPID,
                                                    "openid": openid})  # fmt: skip


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# Orders ----------------------------------------------------------------------------------------


async def test_jsapi_answer_is_signed_under_the_requested_key_and_reentry_is_idempotent(
    harness: SimHarness, wire: V3Signing
) -> None:
    user = await harness.login()
    out_trade_no = new_no()
    body = order_body(out_trade_no, user["openid"])
    first = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", body)
    assert first.status_code == 200 and first.json()["prepay_id"].startswith("wx")
    assert wire.verify(first) == harness.sim.platform.serial  # certificate mode: no key named
    again = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", body,
                       serial=harness.sim.platform.public_key_id)  # fmt: skip
    assert wire.verify(again) == harness.sim.platform.public_key_id
    assert again.json() == first.json()
    changed = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", {**body, "amount": {"total": 101}})
    assert error(changed) == (403, "OUT_TRADE_NO_USED")
    wire.verify(changed)  # errors are signed too


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": {"total": "100"}}, "PARAM_ERROR"),  # text where JSON must carry an integer
        ({"amount": {"total": 0}}, "PARAM_ERROR"),
        ({"notify_url": "https://merchant.test/notify?x=1"}, "PARAM_ERROR"),
        ({"time_expire": "20991231235959"}, "PARAM_ERROR"),  # v2's format, not RFC 3339
        ({"mchid": "1900000999"}, "PARAM_ERROR"),  # not the signing merchant
        ({"appid": "wx0000000000000000"}, "APPID_MCHID_NOT_MATCH"),
        ({"payer": {"openid": "o-not-a-user-of-this-app"}}, "PARAM_ERROR"),
    ],
)
async def test_jsapi_refusals(harness: SimHarness, wire: V3Signing, body: dict[str, Any], code: str) -> None:
    user = await harness.login()
    response = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi",
                          {**order_body(new_no(), user["openid"]), **body})  # fmt: skip
    assert error(response) == (400, code), response.text


async def test_query_close_and_the_five_minute_rule(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    out_trade_no, _ = await create(harness, wire, user["openid"])
    unpaid = (await query(harness, wire, out_trade_no)).json()
    assert unpaid["trade_state"] == "NOTPAY" and unpaid["amount"] == {"total": 100, "currency": "CNY"}
    assert "transaction_id" not in unpaid and unpaid["payer"] == {}
    close_url = f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
    early = await call(harness, wire, "POST", close_url, {"mchid": DEMO_MCH_ID})
    assert early.status_code == 204 and early.content == b""
    wire.verify(early)  # an empty 204 is signed over an empty body
    assert (await query(harness, wire, out_trade_no)).json()["trade_state"] == "NOTPAY"  # ignored, as WeChat does
    harness.sim.advance_clock(CLOSE_MIN_AGE_S)
    assert (await call(harness, wire, "POST", close_url, {"mchid": DEMO_MCH_ID})).status_code == 204
    assert (await query(harness, wire, out_trade_no)).json()["trade_state"] == "CLOSED"
    assert error(await call(harness, wire, "POST", close_url, {"mchid": DEMO_MCH_ID})) == (400, "ORDER_CLOSED")
    reentry = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", order_body(out_trade_no, user["openid"]))
    assert error(reentry) == (400, "ORDER_CLOSED")


async def test_query_errors(harness: SimHarness, wire: V3Signing) -> None:
    assert error(await query(harness, wire, "never-made")) == (404, "ORDER_NOT_EXIST")
    no_mchid = await call(harness, wire, "GET", "/v3/pay/transactions/out-trade-no/never-made")
    assert error(no_mchid) == (400, "PARAM_ERROR")
    other = await call(harness, wire, "GET", "/v3/pay/transactions/out-trade-no/x?mchid=1900000999")
    assert error(other) == (400, "PARAM_ERROR")


async def test_pay_with_rsa_pay_sign_then_query_and_close(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    out_trade_no, prepay_id = await create(harness, wire, user["openid"], attach="a1")
    forged = {**wire.pay_params(prepay_id), "paySign": wire.pay_params("wx-other")["paySign"]}
    refused = await harness.client.post("/sim/v1/pay", json={**forged, "appid": DEMO_APPID, "openid": user["openid"]})
    assert refused.status_code == 403
    md5 = {**wire.pay_params(prepay_id), "signType": "MD5"}
    assert (await harness.client.post("/sim/v1/pay", json={**md5, "appid": DEMO_APPID,
                                                           "openid": user["openid"]})).status_code == 403  # fmt: skip
    paid = await pay(harness, wire, prepay_id, user["openid"])
    assert paid.status_code == 200, paid.text
    doc = (await query(harness, wire, out_trade_no)).json()
    assert doc["trade_state"] == "SUCCESS" and doc["transaction_id"] == paid.json()["transaction_id"]
    assert doc["payer"] == {"openid": user["openid"]} and doc["attach"] == "a1"
    assert doc["amount"] == {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"}
    assert doc["success_time"].endswith("+08:00")
    by_id = await call(harness, wire, "GET", f"/v3/pay/transactions/id/{doc['transaction_id']}?mchid={DEMO_MCH_ID}")
    assert by_id.json() == doc
    harness.sim.advance_clock(CLOSE_MIN_AGE_S)
    closed = await call(harness, wire, "POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
                        {"mchid": DEMO_MCH_ID})  # fmt: skip
    assert error(closed) == (400, "ORDERPAID")


async def test_the_raw_path_is_what_is_verified(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    out_trade_no = "V3|" + secrets.token_hex(4) + "*x"  # WeChat allows | and *: they travel percent-encoded
    created = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", order_body(out_trade_no, user["openid"]))
    assert created.status_code == 200, created.text
    encoded = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}?mchid={DEMO_MCH_ID}"
    assert (await call(harness, wire, "GET", encoded)).json()["out_trade_no"] == out_trade_no
    # Signed for the decoded path but sent encoded: not the bytes on the request line.
    decoded = f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={DEMO_MCH_ID}"
    response = await harness.client.get(encoded, headers=wire.headers("GET", decoded))
    assert error(response) == (401, "SIGN_ERROR")


# Request signatures ----------------------------------------------------------------------------


def _replace_signature(headers: dict[str, str], signature: str) -> dict[str, str]:
    auth = headers["Authorization"]
    start = auth.index('signature="') + len('signature="')
    return {**headers, "Authorization": auth[:start] + signature + auth[auth.index('"', start) :]}


@pytest.mark.parametrize("case", ["stale", "future", "tampered_body", "other_key", "probe", "unknown_serial",
                                  "malformed", "missing", "other_query"])  # fmt: skip
async def test_request_signature_checks(harness: SimHarness, wire: V3Signing, case: str) -> None:
    user = await harness.login()
    url = "/v3/pay/transactions/jsapi"
    body = dumps(order_body(new_no(), user["openid"]))
    headers = wire.headers("POST", url, body)
    sent = body
    if case == "stale":
        headers = wire.headers("POST", url, body, timestamp=int(time.time()) - 301)
    elif case == "future":
        headers = wire.headers("POST", url, body, timestamp=int(time.time()) + 301)
    elif case == "tampered_body":
        sent = body.replace(b'"total":100', b'"total":1')
    elif case == "other_key":
        headers = _replace_signature(headers, wire.sim.platform.headers(body, serial="x")["Wechatpay-Signature"])
    elif case == "probe":
        headers = _replace_signature(headers, SIGNTEST_PREFIX + "abc")
    elif case == "unknown_serial":
        headers = V3Signing(wire.sim, serial="1234ABCD").headers("POST", url, body)
    elif case == "malformed":
        headers = {**headers, "Authorization": headers["Authorization"].replace(",", ";")}
    elif case == "missing":
        del headers["Authorization"]
    elif case == "other_query":
        headers = wire.headers("POST", url + "?a=1", body)
    response = await harness.client.post(url, content=sent, headers=headers)
    assert error(response) == (401, "SIGN_ERROR"), response.text
    if case in ("stale", "future"):
        assert "5分钟" in response.json()["message"]
    assert (await harness.client.get(f"/sim/v1/trades/{json.loads(body)['out_trade_no']}")).status_code == 404


async def test_unknown_merchant_and_unknown_platform_serial(harness: SimHarness, wire: V3Signing) -> None:
    stranger = V3Signing(wire.sim, mchid="1900000999")
    url = f"/v3/pay/transactions/out-trade-no/x?mchid={DEMO_MCH_ID}"
    assert error(await harness.client.get(url, headers=stranger.headers("GET", url))) == (400, "MCH_NOT_EXISTS")
    stale_key = await harness.client.get(url, headers=wire.headers("GET", url, serial="PUB_KEY_ID_0000"))
    assert error(stale_key) == (400, "PARAM_ERROR")


async def test_system_error_fault_before_and_after_effect(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    await harness.client.put("/sim/v1/faults", json={"api_error_rate": 1.0, "api_error_after_effect": True})
    out_trade_no = new_no()
    busy = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", order_body(out_trade_no, user["openid"]))
    assert error(busy) == (500, "SYSTEM_ERROR")
    wire.verify(busy)
    await harness.client.delete("/sim/v1/faults")
    assert (await query(harness, wire, out_trade_no)).json()["trade_state"] == "NOTPAY"  # it took effect
    await harness.client.put("/sim/v1/faults", json={"api_bad_signature_rate": 1.0})
    tampered = await query(harness, wire, out_trade_no)
    assert tampered.status_code == 200
    with pytest.raises(Exception, match="does not verify"):
        wire.verify(tampered)


# Notifications ---------------------------------------------------------------------------------


def _ack(status: int) -> Any:
    return lambda _: httpx.Response(status)


async def test_payment_notification_is_signed_encrypted_and_resigned_per_attempt(
    harness: SimHarness, wire: V3Signing
) -> None:
    answers = iter([httpx.Response(500, json={"code": "FAIL", "message": "busy"}),
                    httpx.Response(202, text="<xml><return_code>SUCCESS</return_code></xml>"),
                    httpx.Response(204)])  # fmt: skip
    harness.merchant.reply = lambda _: next(answers)
    user = await harness.login()
    out_trade_no, prepay_id = await create(harness, wire, user["openid"])
    assert (await pay(harness, wire, prepay_id, user["openid"])).status_code == 200
    for _ in range(300):  # retries come 15 s, 15 s, … apart, scaled by time_scale=0.001
        if len(harness.sim.state.attempts) >= 3:  # recorded once each answer is in
            break
        await _sleep()
    attempts = (await harness.client.get("/sim/v1/notifications", params={"out_trade_no": out_trade_no})).json()
    assert [(a["http_status"], a["acknowledged"]) for a in attempts] == [(500, False), (202, False), (204, True)]
    requests = harness.merchant.requests
    assert len({r.headers["Wechatpay-Nonce"] for r in requests}) == 3  # each attempt signed afresh
    assert len({r.content for r in requests}) == 1  # the same notification, the same id
    expected = (await query(harness, wire, out_trade_no)).json()
    for request in requests:
        assert request.headers["content-type"] == "application/json"
        parsed = parse_notification(request.headers, request.content, verifier=wire.verifier,
                                    api_v3_key=DEMO_API_V3_KEY, now=time.time())  # fmt: skip
        assert parsed.event_type == "TRANSACTION.SUCCESS" and parsed.original_type == "transaction"
        assert parsed.serial == harness.sim.platform.serial  # certificate mode
        assert parsed.resource == expected
    assert b"out_trade_no" not in requests[0].content  # encrypted


async def _sleep() -> None:
    await asyncio.sleep(0.01)


async def test_platform_modes_name_the_key_notifications_are_signed_with(harness: SimHarness, wire: V3Signing) -> None:
    platform = (await harness.client.get("/sim/v1/platform")).json()
    assert platform["public_key_id"].startswith("PUB_KEY_ID_") and platform["mode"] == "certificate"
    assert platform["serial"] == harness.sim.platform.serial and "BEGIN PUBLIC KEY" in platform["public_key_pem"]
    assert (await harness.client.put("/sim/v1/platform", json={"mode": "sideways"})).status_code == 400
    harness.merchant.reply = _ack(204)
    user = await harness.login()
    for mode, count in (("public_key", 1), ("mixed", 16)):  # 16 fair coins all alike: p = 2**-15
        assert (await harness.client.put("/sim/v1/platform", json={"mode": mode})).status_code == 200
        harness.merchant.requests.clear()
        for _ in range(count):
            _, prepay_id = await create(harness, wire, user["openid"])
            assert (await pay(harness, wire, prepay_id, user["openid"])).status_code == 200
        for _ in range(200):
            if len(harness.merchant.requests) >= count:
                break
            await _sleep()
        serials = {r.headers["Wechatpay-Serial"] for r in harness.merchant.requests}
        expected = {platform["public_key_id"]} if mode == "public_key" else {platform["public_key_id"],
                                                                               platform["serial"]}  # fmt: skip
        assert serials == expected


# Refunds ---------------------------------------------------------------------------------------


async def test_refund_reentry_limits_query_and_notification(harness: SimHarness, wire: V3Signing) -> None:
    harness.merchant.reply = _ack(200)
    user = await harness.login()
    out_trade_no, prepay_id = await create(harness, wire, user["openid"])
    url = "/v3/refund/domestic/refunds"
    amount = {"refund": 10, "total": 100, "currency": "CNY"}
    unpaid = await call(
        harness, wire, "POST", url, {"out_trade_no": out_trade_no, "out_refund_no": "R0", "amount": amount}
    )
    assert error(unpaid) == (404, "ORDER_NOT_EXIST")
    await pay(harness, wire, prepay_id, user["openid"])
    out_refund_no = "R" + secrets.token_hex(6)
    body = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "reason": "test",
            "notify_url": NOTIFY_URL, "amount": {"refund": 60, "total": 100, "currency": "CNY"}}  # fmt: skip
    created = await call(harness, wire, "POST", url, body)
    assert created.status_code == 200, created.text
    doc = created.json()
    assert doc["status"] == "PROCESSING" and doc["amount"]["refund"] == 60 and doc["refund_id"]
    assert (await call(harness, wire, "POST", url, body)).json()["refund_id"] == doc["refund_id"]
    too_much = {**body, "out_refund_no": out_refund_no + "b", "amount": {"refund": 41, "total": 100,
                                                                         "currency": "CNY"}}  # fmt: skip
    assert error(await call(harness, wire, "POST", url, too_much)) == (400, "INVALID_REQUEST")
    wrong_total = {**body, "amount": {"refund": 60, "total": 99, "currency": "CNY"}}
    assert error(await call(harness, wire, "POST", url, wrong_total)) == (400, "PARAM_ERROR")
    assert error(await call(harness, wire, "GET", f"{url}/nope")) == (404, "RESOURCE_NOT_EXISTS")
    harness.sim.advance_clock(5)
    queried = (await call(harness, wire, "GET", f"{url}/{out_refund_no}")).json()
    assert queried["status"] == "SUCCESS" and queried["success_time"].endswith("+08:00")
    for _ in range(200):
        refund_posts = [r for r in harness.merchant.requests if b"refund" in r.content]
        if refund_posts:
            break
        await _sleep()
    parsed = parse_notification(refund_posts[0].headers, refund_posts[0].content, verifier=wire.verifier,
                                api_v3_key=DEMO_API_V3_KEY, now=time.time())  # fmt: skip
    assert parsed.event_type == "REFUND.SUCCESS" and parsed.original_type == "refund"
    assert parsed.resource["refund_status"] == "SUCCESS" and parsed.resource["out_refund_no"] == out_refund_no
    assert parsed.resource["amount"] == {"total": 100, "refund": 60, "payer_total": 100, "payer_refund": 60}


# Certificates and bills -----------------------------------------------------------------------


async def test_certificates_decrypt_with_the_api_v3_key_and_verify_with_themselves(
    harness: SimHarness, wire: V3Signing
) -> None:
    response = await call(harness, wire, "GET", "/v3/certificates", serial=harness.sim.platform.public_key_id)
    assert response.status_code == 200
    assert response.headers["Wechatpay-Serial"] == harness.sim.platform.serial
    listed = certificates.verify_certificates_response(response.headers, response.content, DEMO_API_V3_KEY,
                                                       now=time.time())  # fmt: skip
    assert [c.serial_no for c in listed] == [harness.sim.platform.serial]
    with pytest.raises(Exception, match="APIv3"):
        certificates.parse_certificates(response.content, "X" * 32)


async def test_bill_url_hash_and_download(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    out_trade_no, prepay_id = await create(harness, wire, user["openid"])
    await pay(harness, wire, prepay_id, user["openid"])
    day = time.strftime("%Y-%m-%d", time.gmtime(harness.sim.clock.now() + 8 * 3600))
    early = await call(harness, wire, "GET", f"/v3/bill/tradebill?bill_date={day}&tar_type=GZIP")
    assert error(early) == (400, "PARAM_ERROR")  # today's bill does not exist yet
    harness.sim.advance_clock(86400)
    assert error(await call(harness, wire, "GET", "/v3/bill/tradebill?bill_date=20260101")) == (400, "PARAM_ERROR")
    assert error(await call(harness, wire, "GET", "/v3/bill/tradebill?bill_date=2020-01-01")) == (400, "PARAM_ERROR")
    answer = await call(harness, wire, "GET", f"/v3/bill/tradebill?bill_date={day}&bill_type=ALL&tar_type=GZIP")
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["hash_type"] == "SHA1"
    url = doc["download_url"]
    assert (await harness.client.get(url)).status_code == 401  # the download is a signed request too
    file = await harness.client.get(url, headers=wire.headers("GET", url))
    assert file.status_code == 200 and "Wechatpay-Signature" not in file.headers  # not signed: the hash is
    text = gzip.decompress(file.content)
    assert hashlib.sha1(text).hexdigest() == doc["hash_value"]
    lines = list(bill.parse(text.decode().splitlines(keepends=True)))
    assert any(getattr(line, "out_trade_no", "") == out_trade_no for line in lines)
    harness.sim.advance_clock(31)
    assert error(await harness.client.get(url, headers=wire.headers("GET", url))) == (400, "INVALID_REQUEST")
    nothing = await call(harness, wire, "GET", "/v3/bill/tradebill?bill_date=" + time.strftime(
        "%Y-%m-%d", time.gmtime(harness.sim.clock.now() - 30 * 86400)))  # fmt: skip
    assert error(nothing) == (400, "NO_STATEMENT_EXIST")


async def test_merchant_without_v3_identity_is_refused(harness: SimHarness) -> None:
    harness.sim.config.merchants[DEMO_MCH_ID] = Merchant(DEMO_MCH_ID, "k" * 32)  # no serial, no key
    wire = V3Signing(harness.sim, serial=MERCHANT_SERIAL)
    url = f"/v3/pay/transactions/out-trade-no/x?mchid={DEMO_MCH_ID}"
    assert error(await harness.client.get(url, headers=wire.headers("GET", url))) == (401, "SIGN_ERROR")
