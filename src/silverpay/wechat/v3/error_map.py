"""v3 error answers (SPEC §3.8): ``{"code","message","detail"}`` plus an HTTP status → an exception.

The reading matches v2's: :class:`UpstreamUnavailable` whenever the outcome is unknown, the three
trade exceptions for their codes, :class:`UpstreamMisconfigured` when WeChat refuses our own
credentials, :class:`UpstreamRejected` for every other refusal. A code decides before a status:
``OPENID_MISMATCH`` comes with a 500 but is a definite refusal, ``SYSTEM_ERROR`` is a retry at any
status. Without a known code, a 4xx is a refusal and anything else (5xx, 429, an unreadable
answer) leaves the outcome unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from silverpay.errors import (
    ProtocolError,
    TradeAlreadyPaid,
    TradeClosed,
    TradeNotFound,
    TradeParamsDiffer,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)
from silverpay.wechat.v3.json_body import dumps, loads_object
from silverpay.wechat.v3.models import ErrorBody, parse

# The SPEC §3.8 table: the status WeChat pairs with each code (the simulator's side).
ERROR_STATUS: dict[str, int] = {
    "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400,
    "ORDER_CLOSED": 400,
    "MCH_NOT_EXISTS": 400,
    "APPID_MCHID_NOT_MATCH": 400,
    "SIGN_ERROR": 401,
    "NO_AUTH": 403,
    "NOT_ENOUGH": 403,
    "OUT_TRADE_NO_USED": 403,
    "RULE_LIMIT": 403,
    "TRADE_ERROR": 403,
    "ORDER_NOT_EXIST": 404,
    "FREQUENCY_LIMITED": 429,
    "SYSTEM_ERROR": 500,
    "INVALID_TRANSACTIONID": 500,
    "OPENID_MISMATCH": 500,
    "USERPAYING": 202,
}

# The outcome is unknown: retry with the same arguments. USERPAYING: the payer is still paying.
RETRYABLE = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "USERPAYING"})
# v3 tables spell some codes both ways (ORDER_NOT_EXIST / older ORDERNOTEXIST); accept both. No
# v3 table lists a paid-order code: ORDERPAID is v2's and is what developers report from v3 too.
BY_CODE: dict[str, type[UpstreamRejected]] = {
    "ORDERPAID": TradeAlreadyPaid,
    "ORDER_PAID": TradeAlreadyPaid,
    "ORDER_CLOSED": TradeClosed,
    "ORDERCLOSED": TradeClosed,
    "ORDER_NOT_EXIST": TradeNotFound,
    "ORDERNOTEXIST": TradeNotFound,
    "OUT_TRADE_NO_USED": TradeParamsDiffer,
}
# WeChat refused who we are (signature, serial, clock, appid/mchid binding, product permission).
MISCONFIGURED = frozenset({"SIGN_ERROR", "APPID_MCHID_NOT_MATCH", "MCH_NOT_EXISTS", "NO_AUTH"})
MAX_MESSAGE_CHARS = 200


def parse_error_body(body: bytes | str | None) -> ErrorBody | None:
    """The error object, or ``None`` when the body is not one (empty, HTML from a proxy, …)."""
    if not body:
        return None
    try:
        return parse(ErrorBody, loads_object(body, what="error body"), code="JSON_INVALID", what="error body")
    except ProtocolError:
        return None


def error_for(
    status: int,
    body: bytes | str | None,
    *,
    context: str = "",
    overrides: Mapping[str, type[UpstreamRejected]] | None = None,
) -> UpstreamError:
    """The exception for a non-success v3 answer; the caller raises it.

    ``context`` (e.g. the API path) leads the message; WeChat's message follows, truncated, and
    ``detail`` is left out (it can echo the signed message). ``overrides`` maps codes whose
    meaning depends on the call, e.g. ``{"RESOURCE_NOT_EXISTS": RefundNotFound}`` for a refund
    query; it is consulted first.
    """
    error = parse_error_body(body)
    code = error.code if error else ""
    text = f"HTTP {status}"
    if error:
        text += f" {code} {error.message[:MAX_MESSAGE_CHARS]}".rstrip()
    message = f"{context}: {text}" if context else text
    if overrides and code in overrides:
        return overrides[code](message, upstream_code=code)
    if code in BY_CODE:
        return BY_CODE[code](message, upstream_code=code)
    if code in MISCONFIGURED:
        return UpstreamMisconfigured(message)
    if code in RETRYABLE:
        return UpstreamUnavailable(message)
    if code and code in ERROR_STATUS:  # a listed code is a definite answer, whatever its status
        return UpstreamRejected(message, upstream_code=code)
    if 400 <= status < 500 and status != 429:
        return UpstreamRejected(message, upstream_code=code or f"HTTP_{status}")
    return UpstreamUnavailable(message)


def error_body(code: str, message: str, detail: dict[str, Any] | None = None) -> bytes:
    """The simulator's error body, ``{"code","message"[,"detail"]}``."""
    document: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        document["detail"] = detail
    return dumps(document)
