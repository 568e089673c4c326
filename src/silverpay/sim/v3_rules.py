"""API v3 calls as the v2 rules see them (SPEC §3.5, §3.6): translate JSON in, apply the v2 rule,
translate its answer out. Both API versions share one state and one set of business rules; only
the wire differs.

Input is a request whose signature was checked and whose JSON body was parsed; output is the JSON
object to answer (or ``None`` for 204). Refusals are the v2 rules' :class:`CommFail` (a malformed
request: 400 ``PARAM_ERROR``) and :class:`BizFail` (translated by :func:`v3_error`), or
:class:`V3Fail` for what only v3 can get wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from silverpay.beijing import BEIJING, format_beijing, format_rfc3339, parse_beijing, parse_rfc3339
from silverpay.errors import ProtocolError
from silverpay.sim import bill_rules, pay_rules, refund_rules
from silverpay.sim.config import SimConfig
from silverpay.sim.pay_rules import BizFail, CommFail
from silverpay.sim.state import SimRefund, SimState, Trade
from silverpay.wechat.v3.paysign import SIGN_TYPE

DEFAULT_CLIENT_IP = "127.0.0.1"  # v3 makes payer_client_ip optional; the v2 rule wants one
BILL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
BILL_URL_TTL_S = 30  # "download_url 有效期为30s"

# v2 err_code → (v3 code, HTTP status) per the SPEC §3.8 table. No v3 table lists a paid-order
# code; ORDERPAID (400, a state conflict like ORDER_CLOSED) is what developers report from v3.
V3_ERRORS: dict[str, tuple[str, int]] = {
    "ORDERPAID": ("ORDERPAID", 400),
    "ORDERCLOSED": ("ORDER_CLOSED", 400),
    "ORDERNOTEXIST": ("ORDER_NOT_EXIST", 404),
    "REFUNDNOTEXIST": ("RESOURCE_NOT_EXISTS", 404),
    "OUT_TRADE_NO_USED": ("OUT_TRADE_NO_USED", 403),
    "APPID_MCHID_NOT_MATCH": ("APPID_MCHID_NOT_MATCH", 400),
    "NOAUTH": ("NO_AUTH", 403),
    "PARAM_ERROR": ("PARAM_ERROR", 400),
    "INVALID_REQUEST": ("INVALID_REQUEST", 400),
    "SYSTEMERROR": ("SYSTEM_ERROR", 500),
    "ERROR": ("INVALID_REQUEST", 400),  # v2's catch-all refund refusals (too many, more than paid)
}
# v2 refund_status → v3 status; v3 says ABNORMAL where v2 says CHANGE.
V3_REFUND_STATUS = {"SUCCESS": "SUCCESS", "PROCESSING": "PROCESSING", "REFUNDCLOSE": "CLOSED", "CHANGE": "ABNORMAL"}


class V3Fail(Exception):
    """A v3 error answer: ``{"code","message"[,"detail"]}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def v3_error(fail: BizFail) -> V3Fail:
    code, status = V3_ERRORS.get(fail.err_code, (fail.err_code, 400))
    return V3Fail(status, code, fail.err_code_des)


# Reading JSON fields ---------------------------------------------------------------------------


def _str(obj: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise CommFail(f"缺少参数{name}")
        return ""
    if not isinstance(value, str):
        raise CommFail(f"{name}参数类型错误")
    return value


def _obj(obj: Mapping[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
    value = obj.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise CommFail(f"缺少参数{name}" if value is None else f"{name}参数类型错误")
    return value


def _fen(obj: Mapping[str, Any], name: str) -> str:
    """An amount as the v2 rules take it: digits. JSON must carry an integer, not text or a float."""
    value = obj.get(name)
    if value is None:
        raise CommFail(f"缺少参数{name}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommFail(f"{name}参数类型错误")
    return str(value)


def _same_merchant(body_mchid: str, mch_id: str) -> None:
    if body_mchid != mch_id:
        raise V3Fail(400, "PARAM_ERROR", "请求中的mchid与Authorization中的商户号不一致")


def _trade(state: SimState, mch_id: str, *, out_trade_no: str = "", transaction_id: str = "") -> Trade:
    """The trade a v3 call names (v3 calls carry no appid: the trade's own is what the rule checks)."""
    trade = state.trade_by_transaction(transaction_id) if transaction_id else state.trade(mch_id, out_trade_no)
    if trade is None or trade.mch_id != mch_id:
        raise BizFail("ORDERNOTEXIST", "订单不存在")
    return trade


# Orders ----------------------------------------------------------------------------------------


def jsapi(config: SimConfig, state: SimState, mch_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
    """``POST /v3/pay/transactions/jsapi`` through ``unifiedorder``: re-entry, OUT_TRADE_NO_USED, …"""
    _same_merchant(_str(body, "mchid"), mch_id)
    amount, payer = _obj(body, "amount"), _obj(body, "payer")
    scene = _obj(body, "scene_info", required=False)
    time_expire = _str(body, "time_expire", required=False)
    if time_expire:
        try:
            time_expire = format_beijing(parse_rfc3339(time_expire))
        except ProtocolError:
            raise CommFail("time_expire参数格式错误") from None
    fields = {
        "appid": _str(body, "appid"),
        "mch_id": mch_id,
        "nonce_str": "v3",  # v3 carries its nonce in Authorization; the v2 rule only wants one present
        "body": _str(body, "description"),
        "out_trade_no": _str(body, "out_trade_no"),
        "total_fee": _fen(amount, "total"),
        "fee_type": _str(amount, "currency", required=False) or "CNY",
        "spbill_create_ip": _str(scene, "payer_client_ip", required=False) or DEFAULT_CLIENT_IP,
        "notify_url": _str(body, "notify_url"),
        "trade_type": "JSAPI",
        "openid": _str(payer, "openid"),
        "time_expire": time_expire,
        "attach": _str(body, "attach", required=False),
        "sign_type": SIGN_TYPE,  # marks the trade as v3: paySign "RSA", notifications in v3 format
    }
    answer = pay_rules.unified_order(config, state, fields, now)
    return {"prepay_id": answer["prepay_id"]}


def transaction_json(answer: Mapping[str, object], appid: str, mch_id: str) -> dict[str, Any]:
    """A v2 ``orderquery`` answer as the v3 transaction object (query answer and notification resource)."""
    total = int(str(answer["total_fee"]))
    doc: dict[str, Any] = {
        "appid": appid,
        "mchid": mch_id,
        "out_trade_no": answer["out_trade_no"],
        "trade_state": answer["trade_state"],
        "trade_state_desc": answer["trade_state_desc"],
        "amount": {"total": total, "currency": "CNY"},
        "payer": {},
        "promotion_detail": [],
    }
    if answer.get("attach"):
        doc["attach"] = answer["attach"]
    if answer.get("transaction_id"):  # paid: the payment fields appear (SPEC §3.5)
        doc |= {
            "transaction_id": answer["transaction_id"],
            "trade_type": answer["trade_type"],
            "bank_type": answer["bank_type"],
            "success_time": format_rfc3339(parse_beijing(str(answer["time_end"]))),
            "payer": {"openid": answer["openid"]},
            "amount": {"total": total, "payer_total": int(str(answer["cash_fee"])), "currency": "CNY",
                       "payer_currency": "CNY"},
        }  # fmt: skip
    return doc


def query(
    config: SimConfig, state: SimState, mch_id: str, mchid_param: str, now: float, *,
    out_trade_no: str = "", transaction_id: str = "",
) -> dict[str, Any]:  # fmt: skip
    """``GET /v3/pay/transactions/{out-trade-no/…|id/…}?mchid=`` through ``orderquery``."""
    if not mchid_param:
        raise CommFail("缺少参数mchid")
    _same_merchant(mchid_param, mch_id)
    trade = _trade(state, mch_id, out_trade_no=out_trade_no, transaction_id=transaction_id)
    if transaction_id and trade.trade_state not in ("SUCCESS", "REFUND"):
        raise BizFail("ORDERNOTEXIST", "订单不存在")  # "若订单未支付，则只能使用商户订单号查询订单"
    fields = {"appid": trade.appid, "mch_id": mch_id, "out_trade_no": trade.out_trade_no}
    return transaction_json(pay_rules.order_query(config, state, fields, now), trade.appid, mch_id)


def close(config: SimConfig, state: SimState, mch_id: str, out_trade_no: str, body: dict[str, Any], now: float) -> None:
    """``POST …/out-trade-no/{no}/close`` → 204, through ``closeorder`` (so the 5-minute rule holds)."""
    _same_merchant(_str(body, "mchid"), mch_id)
    trade = _trade(state, mch_id, out_trade_no=out_trade_no)
    pay_rules.close_order(config, state, {"appid": trade.appid, "mch_id": mch_id, "out_trade_no": out_trade_no}, now)


# Refunds ---------------------------------------------------------------------------------------


def refund_json(refund: SimRefund, trade: Trade | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": format_rfc3339(refund.created_at),
        "status": V3_REFUND_STATUS.get(refund.refund_status, refund.refund_status),
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund.total_fee,
            "refund": refund.refund_fee,
            "from": [],
            "payer_total": trade.cash_fee if trade else refund.total_fee,
            "payer_refund": refund.refund_fee,
            "settlement_refund": refund.refund_fee,
            "settlement_total": refund.total_fee,
            "discount_refund": 0,
            "currency": "CNY",
        },
        "promotion_detail": [],
    }
    if refund.success_time is not None:
        doc["success_time"] = format_rfc3339(refund.success_time)
    return doc


def refund(
    config: SimConfig, state: SimState, mch_id: str, body: dict[str, Any], now: float, *,
    outcome: str, delay_s: float,
) -> dict[str, Any]:  # fmt: skip
    """``POST /v3/refund/domestic/refunds`` through the v2 refund rule (idempotence, limits)."""
    amount = _obj(body, "amount")
    if (_str(amount, "currency", required=False) or "CNY") != "CNY":
        raise CommFail("currency参数格式错误")
    transaction_id, out_trade_no = _str(body, "transaction_id", required=False), _str(body, "out_trade_no",
                                                                                      required=False)  # fmt: skip
    if not transaction_id and not out_trade_no:
        raise CommFail("transaction_id和out_trade_no不能同时为空")
    trade = _trade(state, mch_id, out_trade_no=out_trade_no, transaction_id=transaction_id)
    out_refund_no = _str(body, "out_refund_no")
    fields = {
        "appid": trade.appid, "mch_id": mch_id, "transaction_id": transaction_id, "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no, "total_fee": _fen(amount, "total"), "refund_fee": _fen(amount, "refund"),
        "refund_desc": _str(body, "reason", required=False), "notify_url": _str(body, "notify_url", required=False),
    }  # fmt: skip
    key = f"{mch_id}:{out_refund_no}"
    created = key not in state.refunds
    refund_rules.refund(config, state, fields, now, outcome=outcome, delay_s=delay_s)
    stored = state.refunds[key]
    if created:  # the API that asked decides the notification's format; a re-entry changes nothing
        stored.api = "v3"
        state.save_refund(stored)
    return refund_json(stored, trade)


def refund_query(config: SimConfig, state: SimState, mch_id: str, out_refund_no: str, now: float) -> dict[str, Any]:
    """``GET /v3/refund/domestic/refunds/{out_refund_no}`` through ``refundquery``."""
    stored = state.refunds.get(f"{mch_id}:{out_refund_no}")
    trade = state.trade(mch_id, stored.out_trade_no) if stored else None
    if stored is None or trade is None:
        raise BizFail("REFUNDNOTEXIST", "退款单不存在")
    refund_rules.refund_query(config, state, {"appid": trade.appid, "mch_id": mch_id, "out_refund_no": out_refund_no},
                              now)  # fmt: skip
    return refund_json(stored, trade)


def refund_resource(refund: SimRefund) -> dict[str, Any]:
    """The decrypted resource of a v3 refund notification (SPEC §3.4)."""
    doc: dict[str, Any] = {
        "mchid": refund.mch_id,
        "out_trade_no": refund.out_trade_no,
        "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": V3_REFUND_STATUS.get(refund.refund_status, refund.refund_status),
        "user_received_account": "支付用户零钱",
        "amount": {"total": refund.total_fee, "refund": refund.refund_fee, "payer_total": refund.total_fee,
                   "payer_refund": refund.refund_fee},
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


def trade_bill(config: SimConfig, state: SimState, mch_id: str, params: Mapping[str, str], now: float) -> BillFile:
    """``GET /v3/bill/tradebill?bill_date=YYYY-MM-DD`` through ``downloadbill``: the same text format."""
    bill_date = params.get("bill_date", "")
    if not BILL_DATE.match(bill_date):
        raise CommFail("bill_date参数格式错误，格式为yyyy-MM-DD")
    tar_type = params.get("tar_type", "")
    if tar_type not in ("", "GZIP"):
        raise CommFail("tar_type参数格式错误")
    try:
        day = datetime.strptime(bill_date, "%Y-%m-%d").replace(tzinfo=BEIJING)
    except ValueError:
        raise CommFail("bill_date参数格式错误") from None
    appid = next((app.appid for app in config.apps.values() if app.mch_id == mch_id), "")
    fields = {"appid": appid, "mch_id": mch_id, "bill_date": day.strftime("%Y%m%d"),
              "bill_type": params.get("bill_type", "ALL")}  # fmt: skip
    try:
        text = bill_rules.download_bill(state, fields, now, config)
    except bill_rules.NoBill as none:
        if none.error_code == "20002":
            raise V3Fail(400, "NO_STATEMENT_EXIST", "要查询的账单文件不存在") from None
        raise V3Fail(400, "PARAM_ERROR", none.return_msg) from None
    return BillFile(mch_id, text, tar_type == "GZIP", now + BILL_URL_TTL_S)


def bill_answer(bill: BillFile, download_url: str) -> dict[str, Any]:
    # The hash is of the bill itself, before compression ("原始账单（gzip需要解压缩）的摘要值").
    digest = hashlib.sha1(bill.text, usedforsecurity=False).hexdigest()  # WeChat's choice, an integrity check
    return {"hash_type": "SHA1", "hash_value": digest, "download_url": download_url}
