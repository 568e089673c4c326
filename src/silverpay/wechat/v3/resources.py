"""v3 JSON objects ↔ the gateway's neutral types (SPEC §3.4–§3.6).

The transaction object is the same in a query answer and in a ``TRANSACTION.SUCCESS`` resource;
the refund object differs only in naming its state ``status`` (answers) or ``refund_status``
(notifications). Malformed objects are :class:`ProtocolError` (``TRADE_FIELDS_INVALID`` /
``REFUND_FIELDS_INVALID``); the caller decides what that means (unknown outcome for an answer, a
rejected notification).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from silverpay.beijing import format_rfc3339, parse_rfc3339
from silverpay.domain.orders import WechatTradeState
from silverpay.domain.refunds import RefundStatus
from silverpay.errors import ProtocolError
from silverpay.wechat.gateway import PrepayRequest, RefundRequest, RefundResult, TradeStatus
from silverpay.wechat.v3.models import Refund, Transaction, parse

CURRENCY = "CNY"


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

# v3's refund status words (SPEC §3.6); v2 says REFUNDCLOSE and CHANGE where v3 says CLOSED and ABNORMAL.
REFUND_STATUS = {
    "SUCCESS": RefundStatus.SUCCESS,
    "PROCESSING": RefundStatus.PROCESSING,
    "CLOSED": RefundStatus.CLOSED,
    "ABNORMAL": RefundStatus.ABNORMAL,
}


def trade_status(doc: object) -> TradeStatus:
    """A transaction object (query answer or notification resource) as :class:`TradeStatus`."""
    trade = parse(Transaction, doc, code="TRADE_FIELDS_INVALID", what="transaction")
    try:
        state = WechatTradeState(trade.trade_state)
        paid_at = parse_rfc3339(trade.success_time) if trade.success_time else None
    except (ValueError, ProtocolError):
        raise ProtocolError("transaction fields are malformed", code="TRADE_FIELDS_INVALID") from None
    return TradeStatus(trade.out_trade_no, state, trade.amount.total, trade.transaction_id, paid_at, trade.payer.openid)


def transaction(doc: object) -> Transaction:
    return parse(Transaction, doc, code="TRADE_FIELDS_INVALID", what="transaction")


def refund_result(doc: object, *, status_field: str = "status") -> RefundResult:
    """A refund object as :class:`RefundResult`; its state is named ``status`` in answers and
    ``refund_status`` in notifications."""
    refund = parse(Refund, doc, code="REFUND_FIELDS_INVALID", what="refund")
    word = refund.refund_status if status_field == "refund_status" else refund.status
    try:
        status = REFUND_STATUS[word]
        succeeded_at = parse_rfc3339(refund.success_time) if refund.success_time else None
    except (KeyError, ProtocolError):
        raise ProtocolError("refund fields are malformed", code="REFUND_FIELDS_INVALID") from None
    return RefundResult(refund.out_refund_no, refund.out_trade_no, refund.refund_id, status,
                        refund.amount.refund, succeeded_at)  # fmt: skip


def claimed_out_trade_no(doc: object) -> str:
    """What a (decrypted but otherwise unchecked) resource says its order is, for the record."""
    value = doc.get("out_trade_no", "") if isinstance(doc, dict) else ""
    return value[:64] if isinstance(value, str) else ""
