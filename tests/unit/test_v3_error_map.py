"""v3 error answers → silverpay exceptions (SPEC §3.8)."""

from __future__ import annotations

import json

import pytest

from silverpay.errors import (
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    TradeParamsDiffer,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)
from silverpay.wechat.v3.error_map import ERROR_STATUS, error_body, error_for, parse_error_body


def body(code: str, message: str = "m") -> bytes:
    return json.dumps({"code": code, "message": message}).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (500, "SYSTEM_ERROR", UpstreamUnavailable),
        (429, "FREQUENCY_LIMITED", UpstreamUnavailable),
        (400, "SYSTEM_ERROR", UpstreamUnavailable),  # the code decides
        (202, "USERPAYING", UpstreamUnavailable),
        (503, "SOMETHING_NEW", UpstreamUnavailable),
        (400, "ORDER_CLOSED", TradeClosed),
        (400, "ORDERCLOSED", TradeClosed),
        (404, "ORDER_NOT_EXIST", TradeNotFound),
        (404, "ORDERNOTEXIST", TradeNotFound),
        (400, "ORDERPAID", TradeAlreadyPaid),
        (403, "ORDER_PAID", TradeAlreadyPaid),
        (401, "SIGN_ERROR", UpstreamMisconfigured),
        (400, "APPID_MCHID_NOT_MATCH", UpstreamMisconfigured),
        (400, "MCH_NOT_EXISTS", UpstreamMisconfigured),
        (403, "NO_AUTH", UpstreamMisconfigured),
        (400, "PARAM_ERROR", UpstreamRejected),
        (400, "INVALID_REQUEST", UpstreamRejected),
        (403, "OUT_TRADE_NO_USED", TradeParamsDiffer),
        (403, "NOT_ENOUGH", UpstreamRejected),
        (403, "RULE_LIMIT", UpstreamRejected),
        (403, "TRADE_ERROR", UpstreamRejected),
        (500, "OPENID_MISMATCH", UpstreamRejected),  # a 500 that is a definite refusal
        (500, "INVALID_TRANSACTIONID", UpstreamRejected),
        (400, "SOMETHING_NEW", UpstreamRejected),
    ],
)
def test_mapping(status: int, code: str, expected: type[UpstreamError]) -> None:
    error = error_for(status, body(code, "系统繁忙，请稍后重试"), context="/v3/pay/transactions/jsapi")
    assert type(error) is expected
    assert error.message.startswith(f"/v3/pay/transactions/jsapi: HTTP {status} {code} 系统繁忙")
    if isinstance(error, UpstreamRejected):
        assert error.upstream_code == code


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        (502, b"<html>Bad Gateway</html>", UpstreamUnavailable),
        (500, b"", UpstreamUnavailable),
        (504, None, UpstreamUnavailable),
        (429, b"", UpstreamUnavailable),
        (404, b"", UpstreamRejected),
        (400, b'{"message":"no code"}', UpstreamRejected),
        (302, b"", UpstreamUnavailable),
    ],
)
def test_unreadable_bodies_fall_back_on_the_status(
    status: int, raw: bytes | None, expected: type[UpstreamError]
) -> None:
    error = error_for(status, raw)
    assert type(error) is expected
    if isinstance(error, UpstreamRejected):
        assert error.upstream_code == f"HTTP_{status}"


def test_detail_is_parsed_but_kept_out_of_the_message() -> None:
    raw = json.dumps(
        {
            "code": "SIGN_ERROR",
            "message": "签名错误，请检查后再试",
            "detail": {"field": "signature", "sign_information": {"truncated_sign_message": "POST\n/v3/…"}},
        }
    )
    parsed = parse_error_body(raw)
    assert parsed is not None and parsed.detail is not None and parsed.detail["field"] == "signature"
    error = error_for(401, raw)
    assert "truncated_sign_message" not in error.message and "POST" not in error.message


def test_long_messages_are_truncated() -> None:
    assert len(error_for(400, body("PARAM_ERROR", "x" * 5000)).message) < 300


def test_error_body_round_trip() -> None:
    raw = error_body("ORDER_NOT_EXIST", "订单不存在", {"location": "path"})
    assert json.loads(raw) == {"code": "ORDER_NOT_EXIST", "message": "订单不存在", "detail": {"location": "path"}}
    assert type(error_for(ERROR_STATUS["ORDER_NOT_EXIST"], raw)) is TradeNotFound
    assert json.loads(error_body("SYSTEM_ERROR", "系统错误")) == {"code": "SYSTEM_ERROR", "message": "系统错误"}


def test_status_table_matches_the_spec() -> None:
    assert ERROR_STATUS["SIGN_ERROR"] == 401
    assert ERROR_STATUS["ORDER_NOT_EXIST"] == 404
    assert ERROR_STATUS["FREQUENCY_LIMITED"] == 429
    assert {status for status in ERROR_STATUS.values()} == {202, 400, 401, 403, 404, 429, 500}


def test_call_specific_overrides() -> None:
    class RefundMissing(UpstreamRejected):
        pass

    raw = body("RESOURCE_NOT_EXISTS", "退款单不存在")
    assert type(error_for(404, raw)) is UpstreamRejected
    error = error_for(404, raw, overrides={"RESOURCE_NOT_EXISTS": RefundMissing})
    assert type(error) is RefundMissing and error.upstream_code == "RESOURCE_NOT_EXISTS"
