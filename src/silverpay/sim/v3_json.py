"""API v3 JSON ↔ the core's commands and results (SPEC §3.5, §3.6).

Bodies are validated by the strict models of :mod:`silverpay.sim.v3_models` (a failure is a 400
``PARAM_ERROR``); a rule's refusal becomes the status and code of :mod:`silverpay.sim.v3_codes`.
The transaction object is both the query answer and the resource of a payment notification.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from silverpay.beijing import format_rfc3339, parse_rfc3339
from silverpay.sim import v3_models
from silverpay.sim.core.commands import (
    ApiVersion,
    BillRequest,
    BillType,
    OrderTerms,
    Prepay,
    Refund,
    RefundView,
    TradeRef,
    TradeView,
)
from silverpay.sim.core.failures import Reason, RuleFailure
from silverpay.sim.state import SimRefund
from silverpay.sim.v2_codes import TRADE_STATE_DESC
from silverpay.sim.v3_codes import ERRORS, MESSAGES
from silverpay.wechat.v3.paysign import SIGN_TYPE

Model = TypeVar("Model", bound=BaseModel)
BILL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
BILL_URL_TTL_S = 30  # "download_url 有效期为30s"


class V3Fail(Exception):
    """A v3 error answer: ``{"code","message"[,"detail"]}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def param_error(message: str, detail: dict[str, Any] | None = None) -> V3Fail:
    return V3Fail(400, "PARAM_ERROR", message, detail)


def failure(fail: RuleFailure) -> V3Fail:
    status, code = ERRORS[fail.reason]
    return V3Fail(status, code, MESSAGES.get(fail.reason, fail.message))


def parse(model: type[Model], body: Mapping[str, Any]) -> Model:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise param_error(*v3_models.param_error(error)) from None


def same_merchant(body_mchid: str, mch_id: str) -> None:
    if body_mchid != mch_id:
        raise param_error("请求中的mchid与Authorization中的商户号不一致")


def _canonical(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# Orders ----------------------------------------------------------------------------------------


def prepay(order: v3_models.JsapiOrder, mch_id: str) -> Prepay:
    """``POST /v3/pay/transactions/jsapi``; the optional business fields count for re-entry too."""
    same_merchant(order.mchid, mch_id)
    optional = {
        "goods_tag": order.goods_tag, "support_fapiao": order.support_fapiao, "detail": order.detail,
        "settle_info": order.settle_info.model_dump(exclude_none=True) if order.settle_info else None,
    }  # fmt: skip
    terms = OrderTerms(
        appid=order.appid, description=order.description, total_fen=order.amount.total, openid=order.payer.openid,
        notify_url=order.notify_url, attach=order.attach or "",
        time_expire=parse_rfc3339(order.time_expire) if order.time_expire else None,
        extras=tuple(sorted((k, _canonical(v)) for k, v in optional.items() if v is not None)),
    )  # fmt: skip
    return Prepay(ApiVersion.V3, mch_id, order.out_trade_no, terms, SIGN_TYPE)


def query_ref(mch_id: str, mchid_param: str, *, out_trade_no: str = "", transaction_id: str = "") -> TradeRef:
    """``GET /v3/pay/transactions/{out-trade-no/…|id/…}?mchid=``: only a paid trade has an id
    ("若订单未支付，则只能使用商户订单号查询订单")."""
    if not mchid_param:
        raise param_error("缺少参数mchid")
    same_merchant(mchid_param, mch_id)
    return TradeRef(mch_id, out_trade_no=out_trade_no, transaction_id=transaction_id)


def transaction_json(trade: TradeView) -> dict[str, Any]:
    """The v3 transaction object: payment fields appear once paid (SPEC §3.5)."""
    doc: dict[str, Any] = {
        "appid": trade.appid,
        "mchid": trade.mch_id,
        "out_trade_no": trade.out_trade_no,
        "trade_state": trade.trade_state.value,
        "trade_state_desc": TRADE_STATE_DESC[trade.trade_state],
        "amount": {"total": trade.total_fen, "currency": "CNY"},
        "payer": {},
        "promotion_detail": [],
    }
    if trade.attach:
        doc["attach"] = trade.attach
    if trade.paid_at is not None:
        doc |= {
            "transaction_id": trade.transaction_id,
            "trade_type": trade.trade_type,
            "bank_type": trade.bank_type,
            "success_time": format_rfc3339(trade.paid_at),
            "payer": {"openid": trade.openid},
            "amount": {"total": trade.total_fen, "payer_total": trade.payer_total_fen, "currency": "CNY",
                       "payer_currency": "CNY"},
        }  # fmt: skip
    return doc


# Refunds ---------------------------------------------------------------------------------------


def refund(body: v3_models.RefundRequest, mch_id: str) -> Refund:
    ref = TradeRef(mch_id, out_trade_no=body.out_trade_no or "", transaction_id=body.transaction_id or "")
    return Refund(ApiVersion.V3, ref, body.out_refund_no, body.amount.total, body.amount.refund,
                  reason=body.reason or "", notify_url=body.notify_url or "")  # fmt: skip


def refund_json(refund: RefundView) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": format_rfc3339(refund.created_at),
        "status": refund.status.value,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund.total_fen,
            "refund": refund.refund_fen,
            "from": [],
            "payer_total": refund.payer_total_fen,
            "payer_refund": refund.refund_fen,
            "settlement_refund": refund.refund_fen,
            "settlement_total": refund.total_fen,
            "discount_refund": 0,
            "currency": "CNY",
        },
        "promotion_detail": [],
    }
    if refund.success_time is not None:
        doc["success_time"] = format_rfc3339(refund.success_time)
    return doc


def refund_resource(refund: SimRefund) -> dict[str, Any]:
    """The decrypted resource of a v3 refund notification (SPEC §3.4)."""
    doc: dict[str, Any] = {
        "mchid": refund.mch_id,
        "out_trade_no": refund.out_trade_no,
        "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status.value,
        "user_received_account": "支付用户零钱",
        "amount": {"total": refund.total_fen, "refund": refund.refund_fen, "payer_total": refund.total_fen,
                   "payer_refund": refund.refund_fen},
    }  # fmt: skip
    if refund.success_time is not None:
        doc["success_time"] = format_rfc3339(refund.success_time)
    return doc


# Bills -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillFile:
    """One ``download_url``: whose bill, its text, and until when (simulated time) it may be fetched."""

    mch_id: str
    text: bytes
    gzip: bool
    expires_at: float

    def content(self) -> bytes:
        return gzip.compress(self.text) if self.gzip else self.text


def bill_request(mch_id: str, params: Mapping[str, str]) -> tuple[BillRequest, bool]:
    """``GET /v3/bill/tradebill?bill_date=YYYY-MM-DD[&bill_type][&tar_type=GZIP]``: the request and
    whether the file is to be gzipped."""
    raw_date = params.get("bill_date", "")
    if not BILL_DATE.match(raw_date):
        raise param_error("bill_date参数格式错误，格式为yyyy-MM-DD")
    try:
        day = datetime.strptime(raw_date, "%Y-%m-%d").date()
    except ValueError:
        raise param_error("bill_date参数格式错误") from None
    tar_type = params.get("tar_type", "")
    if tar_type not in ("", "GZIP"):
        raise param_error("tar_type参数格式错误")
    try:
        bill_type = BillType(params.get("bill_type") or "ALL")
    except ValueError:
        raise failure(RuleFailure(Reason.BILL_TYPE_INVALID, "invalid bill_type")) from None
    return BillRequest(mch_id, day, bill_type), tar_type == "GZIP"


def bill_answer(bill: BillFile, download_url: str) -> dict[str, Any]:
    # The hash is of the bill itself, before compression ("原始账单（gzip需要解压缩）的摘要值").
    digest = hashlib.sha1(bill.text, usedforsecurity=False).hexdigest()  # WeChat's choice, an integrity check
    return {"hash_type": "SHA1", "hash_value": digest, "download_url": download_url}
