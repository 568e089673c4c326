"""v3 JSON objects ↔ the gateway's neutral types (SPEC §3.4–§3.6).

The transaction object is the same in a query answer and in a ``TRANSACTION.SUCCESS`` resource;
the refund object differs only in naming its state ``status`` (answers) or ``refund_status``
(notifications). Malformed objects are :class:`ProtocolError` (``TRADE_FIELDS_INVALID`` /
``REFUND_FIELDS_INVALID``); the caller decides what that means (unknown outcome for an answer, a
rejected notification).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from silverpay.domain.orders import WechatTradeState
from silverpay.errors import ProtocolError
from silverpay.wechat.gateway import PrepayRequest, RefundRequest, RefundResult, TradeStatus
from silverpay.wechat.v3.times import format_rfc3339, parse_rfc3339

CURRENCY = "CNY"


def _fen(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(name)
    return value


def _text(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name, "")
    if not isinstance(value, str):
        raise ValueError(name)
    return value


def _object(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = obj.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(name)
    return value


# Requests --------------------------------------------------------------------------------------


def jsapi_body(request: PrepayRequest, *, appid: str, mchid: str) -> dict[str, Any]:
    """``POST /v3/pay/transactions/jsapi``: every field derives from the order, so a retried call
    is an identical re-entry (the same prepay_id), as in v2."""
    return {
        "appid": appid,
        "mchid": mchid,
        "description": request.description,
        "out_trade_no": request.out_trade_no,
        "time_expire": format_rfc3339(request.expires_at),
        "notify_url": request.notify_url,
        "amount": {"total": request.amount_fen, "currency": CURRENCY},
        "payer": {"openid": request.openid},
        "scene_info": {"payer_client_ip": request.client_ip},
    }


def refund_body(request: RefundRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "out_trade_no": request.out_trade_no,
        "out_refund_no": request.out_refund_no,
        "amount": {"refund": request.refund_fen, "total": request.total_fen, "currency": CURRENCY},
    }
    if request.reason:
        body["reason"] = request.reason[:80]  # "reason ≤80" (SPEC §3.6)
    if request.notify_url:
        body["notify_url"] = request.notify_url
    return body


def bill_query(bill_date: date) -> dict[str, str]:
    return {"bill_date": bill_date.isoformat(), "bill_type": "ALL", "tar_type": "GZIP"}


# Answers and resources -------------------------------------------------------------------------


def trade_status(doc: Mapping[str, Any]) -> TradeStatus:
    """A transaction object (query answer or notification resource) as :class:`TradeStatus`."""
    try:
        out_trade_no = _text(doc, "out_trade_no")
        state = WechatTradeState(_text(doc, "trade_state"))
        amount = _fen(_object(doc, "amount"), "total")
        success_time = _text(doc, "success_time")
        paid_at = parse_rfc3339(success_time) if success_time else None
        transaction_id = _text(doc, "transaction_id")
        openid = _text(_object(doc, "payer"), "openid")
    except (ValueError, ProtocolError):
        raise ProtocolError("transaction fields are malformed", code="TRADE_FIELDS_INVALID") from None
    if not out_trade_no:
        raise ProtocolError("transaction has no out_trade_no", code="TRADE_FIELDS_INVALID")
    return TradeStatus(out_trade_no, state, amount, transaction_id, paid_at, openid)


def refund_result(doc: Mapping[str, Any], *, status_field: str = "status") -> RefundResult:
    """A refund object as :class:`RefundResult`; ``status`` stays WeChat's word (SUCCESS, CLOSED,
    PROCESSING, ABNORMAL), which the refund rules read for both API versions."""
    try:
        out_refund_no = _text(doc, "out_refund_no")
        status = _text(doc, status_field)
        refund_fen = _fen(_object(doc, "amount"), "refund")
        success_time = _text(doc, "success_time")
        result = RefundResult(
            out_refund_no=out_refund_no,
            out_trade_no=_text(doc, "out_trade_no"),
            refund_id=_text(doc, "refund_id"),
            status=status,
            refund_fen=refund_fen,
            succeeded_at=parse_rfc3339(success_time) if success_time else None,
        )
    except (ValueError, ProtocolError):
        raise ProtocolError("refund fields are malformed", code="REFUND_FIELDS_INVALID") from None
    if not out_refund_no or not status:
        raise ProtocolError("refund has no out_refund_no or status", code="REFUND_FIELDS_INVALID")
    return result


def claimed_out_trade_no(doc: Mapping[str, Any]) -> str:
    """What a (decrypted but otherwise unchecked) resource says its order is, for the record."""
    value = doc.get("out_trade_no", "")
    return value[:64] if isinstance(value, str) else ""
