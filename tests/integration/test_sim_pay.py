"""unifiedorder / orderquery / closeorder / requestPayment against the in-process simulator."""

import secrets

import pytest

from silverpay.sim.config import CLOSE_MIN_AGE_S, DEMO_APPID, PREPAY_TTL_S
from silverpay.wechat.v2 import xml
from silverpay.wechat.v2.signing import SignType
from tests.conftest import SimHarness
from tests.sheet import payment_sheet
from tests.v2wire import call, order_params, signed_body


def new_trade_no() -> str:
    return "T" + secrets.token_hex(8)


async def create(h: SimHarness, openid: str, **extra: object) -> tuple[str, dict[str, str]]:
    out_trade_no = new_trade_no()
    answer = await call(h.client, "/pay/unifiedorder", order_params(out_trade_no, openid, **extra))
    return out_trade_no, answer


async def pay(h: SimHarness, prepay_id: str, openid: str, **kw: object) -> tuple[int, dict[str, str]]:
    response = await h.client.post("/sim/v1/pay", json=payment_sheet(prepay_id, openid, **kw))  # type: ignore[arg-type]
    return response.status_code, response.json()


async def query(h: SimHarness, **ids: str) -> dict[str, str]:
    return await call(h.client, "/pay/orderquery", ids)


# unifiedorder -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_type", list(SignType))
async def test_unifiedorder_success_signed_with_request_sign_type(harness: SimHarness, sign_type: SignType) -> None:
    user = await harness.login()
    answer = await call(
        harness.client, "/pay/unifiedorder", order_params(new_trade_no(), user["openid"]), sign_type=sign_type
    )
    assert answer["return_code"] == answer["result_code"] == "SUCCESS"
    assert answer["trade_type"] == "JSAPI"
    assert answer["prepay_id"].startswith("wx")
    assert answer["appid"] == DEMO_APPID


async def test_bad_signature_is_return_code_fail(harness: SimHarness) -> None:
    user = await harness.login()
    answer = await call(harness.client, "/pay/unifiedorder", order_params(new_trade_no(), user["openid"]), key="0" * 32)
    assert answer == {"return_code": "FAIL", "return_msg": "签名错误,请检查后再试"}


async def test_hmac_declared_but_md5_signed_fails(harness: SimHarness) -> None:
    user = await harness.login()
    params = order_params(new_trade_no(), user["openid"], sign_type="HMAC-SHA256")
    answer = await call(harness.client, "/pay/unifiedorder", params, sign_type=SignType.MD5)
    assert answer["return_code"] == "FAIL"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": None}, "缺少参数body"),
        ({"total_fee": None}, "缺少参数total_fee"),
        ({"notify_url": None}, "缺少参数notify_url"),
        ({"total_fee": "1.01"}, "total_fee参数格式错误"),
        ({"total_fee": "0"}, "total_fee参数格式错误"),
        ({"total_fee": "-5"}, "total_fee参数格式错误"),
        ({"out_trade_no": "has space"}, "out_trade_no参数格式错误"),
        ({"out_trade_no": "x" * 33}, "out_trade_no参数长度有误"),
        ({"body": "b" * 128}, "body参数长度有误"),
        ({"spbill_create_ip": "not-an-ip"}, "spbill_create_ip参数格式错误"),
        ({"notify_url": "http://merchant.test/notify?order=1"}, "notify_url参数格式错误"),
        ({"notify_url": "ftp://merchant.test/notify"}, "notify_url参数格式错误"),
        ({"fee_type": "USD"}, "fee_type参数格式错误"),
        ({"time_expire": "2026-12-01"}, "time_expire参数格式错误"),
        ({"openid": None}, "JSAPI支付必须传openid"),
    ],
)
async def test_malformed_requests_are_return_code_fail(
    harness: SimHarness, change: dict[str, object], message: str
) -> None:
    user = await harness.login()
    params = {**order_params(new_trade_no(), user["openid"]), **change}
    answer = await call(harness.client, "/pay/unifiedorder", params)
    assert answer == {"return_code": "FAIL", "return_msg": message}


async def test_unknown_merchant_and_missing_appid(harness: SimHarness) -> None:
    user = await harness.login()
    params = order_params(new_trade_no(), user["openid"])
    answer = await call(harness.client, "/pay/unifiedorder", {**params, "mch_id": "1234567890"})
    assert answer["return_code"] == "FAIL"
    answer = await call(harness.client, "/pay/unifiedorder", {**params, "appid": None})
    assert answer == {"return_code": "FAIL", "return_msg": "缺少参数appid"}


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>',
        b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><a>&b;</a></xml>',
        b"<xml><a>" + b"x" * 70000 + b"</a></xml>",
        b"<xml><a><b>1</b></a></xml>",
        b"",
    ],
)
async def test_hostile_bodies_are_refused_without_crashing(harness: SimHarness, body: bytes) -> None:
    response = await harness.client.post("/pay/unifiedorder", content=body)
    assert response.status_code == 200
    assert xml.decode(response.content) == {"return_code": "FAIL", "return_msg": "XML格式错误"}


async def test_appid_not_bound_to_merchant(harness: SimHarness) -> None:
    user = await harness.login()
    answer = await call(
        harness.client,
        "/pay/unifiedorder",
        {**order_params(new_trade_no(), user["openid"]), "appid": "wxother"},
    )
    assert answer["result_code"] == "FAIL"
    assert answer["err_code"] == "APPID_MCHID_NOT_MATCH"


async def test_openid_must_belong_to_appid(harness: SimHarness) -> None:
    await harness.client.post("/sim/v1/apps", json={"appid": "wxother0000000001", "secret": "s"})
    stranger = await harness.login(appid="wxother0000000001")
    _, answer = await create(harness, stranger["openid"])
    assert (answer["result_code"], answer["err_code"]) == ("FAIL", "PARAM_ERROR")


async def test_only_jsapi_is_enabled(harness: SimHarness) -> None:
    user = await harness.login()
    _, answer = await create(harness, user["openid"], trade_type="NATIVE", product_id="p1")
    assert answer["err_code"] == "NOAUTH"


async def test_time_expire_too_soon(harness: SimHarness) -> None:
    from silverpay.beijing import format_beijing

    user = await harness.login()
    soon = format_beijing(harness.sim.clock.now() + 60)
    _, answer = await create(harness, user["openid"], time_expire=soon)
    assert answer["err_code"] == "INVALID_REQUEST"


async def test_reentry_same_fields_same_prepay_other_fields_rejected(harness: SimHarness) -> None:
    user = await harness.login()
    out_trade_no, first = await create(harness, user["openid"])
    # nonce_str and spbill_create_ip may differ on re-entry
    params = {**order_params(out_trade_no, user["openid"]), "spbill_create_ip": "10.0.0.9"}
    again = await call(harness.client, "/pay/unifiedorder", params)
    assert again["prepay_id"] == first["prepay_id"]
    for change in ({"total_fee": 102}, {"body": "other"}, {"attach": "x"}):
        answer = await call(harness.client, "/pay/unifiedorder", {**params, **change})
        assert answer["err_code"] == "OUT_TRADE_NO_USED", change


async def test_reentry_after_two_hours_gets_a_fresh_prepay(harness: SimHarness) -> None:
    user = await harness.login()
    out_trade_no, first = await create(harness, user["openid"])
    await harness.client.post("/sim/v1/clock", json={"advance_s": PREPAY_TTL_S + 1})
    status, body = await pay(harness, first["prepay_id"], user["openid"])
    assert (status, body["errMsg"]) == (409, "requestPayment:fail prepay_id已失效")
    again = await call(harness.client, "/pay/unifiedorder", order_params(out_trade_no, user["openid"]))
    assert again["prepay_id"] != first["prepay_id"]
    status, _ = await pay(harness, again["prepay_id"], user["openid"])
    assert status == 200


# requestPayment, orderquery ----------------------------------------------------------------------


async def test_pay_then_query_then_reorder(harness: SimHarness) -> None:
    user = await harness.login()
    out_trade_no, order = await create(harness, user["openid"], attach="cart-7")

    unpaid = await query(harness, out_trade_no=out_trade_no)
    assert unpaid["trade_state"] == "NOTPAY"
    assert unpaid["trade_state_desc"] == "订单未支付"
    for payment_only in ("transaction_id", "openid", "time_end", "bank_type", "cash_fee"):
        assert payment_only not in unpaid

    status, body = await pay(harness, order["prepay_id"], user["openid"])
    assert status == 200 and body["errMsg"] == "requestPayment:ok"

    paid = await query(harness, out_trade_no=out_trade_no)
    assert paid["trade_state"] == "SUCCESS"
    assert paid["transaction_id"] == body["transaction_id"]
    assert paid["total_fee"] == paid["cash_fee"] == "101"
    assert paid["openid"] == user["openid"]
    assert paid["attach"] == "cart-7"
    assert len(paid["time_end"]) == 14
    by_transaction = await query(harness, transaction_id=body["transaction_id"])
    assert by_transaction["out_trade_no"] == out_trade_no

    again = await call(harness.client, "/pay/unifiedorder", order_params(out_trade_no, user["openid"], attach="cart-7"))
    assert again["err_code"] == "ORDERPAID"
    status, body = await pay(harness, order["prepay_id"], user["openid"])
    assert (status, body["errMsg"]) == (409, "requestPayment:fail 该订单已支付")


async def test_query_errors(harness: SimHarness) -> None:
    assert (await query(harness, out_trade_no="nope"))["err_code"] == "ORDERNOTEXIST"
    assert (await query(harness, transaction_id="4200000000"))["err_code"] == "ORDERNOTEXIST"
    assert (await query(harness))["return_code"] == "FAIL"


@pytest.mark.parametrize("sign_type", list(SignType))
async def test_pay_sign_must_verify_and_match_order_sign_type(harness: SimHarness, sign_type: SignType) -> None:
    user = await harness.login()
    out_trade_no = new_trade_no()
    extra = {"sign_type": sign_type.value} if sign_type is SignType.HMAC_SHA256 else {}
    params = order_params(out_trade_no, user["openid"], **extra)
    order = await call(harness.client, "/pay/unifiedorder", params, sign_type=sign_type)
    other = SignType.MD5 if sign_type is SignType.HMAC_SHA256 else SignType.HMAC_SHA256
    status, body = await pay(harness, order["prepay_id"], user["openid"], sign_type=other)
    assert status == 403, body
    status, body = await pay(harness, order["prepay_id"], user["openid"], sign_type=sign_type, key="0" * 32)
    assert (status, body["errMsg"]) == (403, "requestPayment:fail 支付验证签名失败")
    status, body = await pay(harness, order["prepay_id"], user["openid"], sign_type=sign_type)
    assert status == 200, body


async def test_pay_refusals(harness: SimHarness) -> None:
    alice, bob = await harness.login("alice"), await harness.login("bob")
    _, order = await create(harness, alice["openid"])
    assert (await pay(harness, order["prepay_id"], bob["openid"]))[0] == 403
    assert (await pay(harness, "wx-unknown", alice["openid"]))[0] == 404
    assert (await pay(harness, order["prepay_id"], alice["openid"], outcome="maybe"))[0] == 400
    response = await harness.client.post(
        "/sim/v1/pay", json={**payment_sheet(order["prepay_id"], alice["openid"]), "package": "prepay=1"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(("outcome", "message"), [("cancel", "cancel"), ("fail", "支付失败")])
async def test_cancel_and_fail_leave_the_trade_payable(harness: SimHarness, outcome: str, message: str) -> None:
    user = await harness.login()
    out_trade_no, order = await create(harness, user["openid"])
    status, body = await pay(harness, order["prepay_id"], user["openid"], outcome=outcome)
    assert (status, body["errMsg"]) == (400, f"requestPayment:fail {message}")
    assert (await query(harness, out_trade_no=out_trade_no))["trade_state"] == "NOTPAY"
    assert harness.merchant.received == []
    assert (await pay(harness, order["prepay_id"], user["openid"]))[0] == 200


# closeorder --------------------------------------------------------------------------------------


async def test_close_rules(harness: SimHarness) -> None:
    user = await harness.login()
    out_trade_no, order = await create(harness, user["openid"])
    # Younger than 5 minutes: SUCCESS, yet the trade stays open (observed platform behaviour).
    early = await call(harness.client, "/pay/closeorder", {"out_trade_no": out_trade_no})
    assert early["result_code"] == "SUCCESS"
    assert (await query(harness, out_trade_no=out_trade_no))["trade_state"] == "NOTPAY"

    await harness.client.post("/sim/v1/clock", json={"advance_s": CLOSE_MIN_AGE_S})
    closed = await call(harness.client, "/pay/closeorder", {"out_trade_no": out_trade_no})
    assert closed["result_code"] == "SUCCESS"
    assert (await query(harness, out_trade_no=out_trade_no))["trade_state"] == "CLOSED"
    assert (await call(harness.client, "/pay/closeorder", {"out_trade_no": out_trade_no}))["err_code"] == "ORDERCLOSED"
    again = await call(harness.client, "/pay/unifiedorder", order_params(out_trade_no, user["openid"]))
    assert again["err_code"] == "ORDERCLOSED"
    status, body = await pay(harness, order["prepay_id"], user["openid"])
    assert (status, body["errMsg"]) == (409, "requestPayment:fail 订单已关闭")


async def test_close_paid_and_unknown(harness: SimHarness) -> None:
    user = await harness.login()
    out_trade_no, order = await create(harness, user["openid"])
    await pay(harness, order["prepay_id"], user["openid"])
    await harness.client.post("/sim/v1/clock", json={"advance_s": CLOSE_MIN_AGE_S})
    assert (await call(harness.client, "/pay/closeorder", {"out_trade_no": out_trade_no}))["err_code"] == "ORDERPAID"
    assert (await call(harness.client, "/pay/closeorder", {"out_trade_no": "nope"}))["err_code"] == "ORDERNOTEXIST"


# faults ------------------------------------------------------------------------------------------


async def test_system_error_before_and_after_effect(harness: SimHarness) -> None:
    user = await harness.login()
    await harness.client.put("/sim/v1/faults", json={"api_error_rate": 1.0})
    out_trade_no, answer = await create(harness, user["openid"])
    assert (answer["result_code"], answer["err_code"]) == ("FAIL", "SYSTEMERROR")
    await harness.client.put("/sim/v1/faults", json={"api_error_rate": 1.0, "api_error_after_effect": True})
    out_trade_no, answer = await create(harness, user["openid"])
    assert answer["err_code"] == "SYSTEMERROR"
    await harness.client.delete("/sim/v1/faults")
    # the second call did take effect: the trade exists at WeChat
    assert (await query(harness, out_trade_no=out_trade_no))["trade_state"] == "NOTPAY"


async def test_faults_are_validated(harness: SimHarness) -> None:
    assert (await harness.client.put("/sim/v1/faults", json={"notify_drop_rate": 1.5})).status_code == 422
    assert (await harness.client.put("/sim/v1/faults", json={"no_such_fault": 1})).status_code == 422
    assert (await harness.client.post("/sim/v1/clock", json={"advance_s": -1})).status_code == 422


async def test_signed_body_helper_round_trips() -> None:
    fields = xml.decode(signed_body({"out_trade_no": "x"}, sign_type=SignType.HMAC_SHA256))
    assert fields["sign_type"] == "HMAC-SHA256" and len(fields["sign"]) == 64
