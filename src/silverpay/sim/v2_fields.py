"""API v2 fields ↔ the core's commands and results (SPEC §2.3–2.9).

Decoding checks what v2 checks before any rule: presence, lengths and formats. A malformed request
is :class:`CommFail` (``return_code=FAIL``, WeChat's first level); a rule's refusal is rendered by
:func:`failure` (``result_code=FAIL`` with an ``err_code``, the second level).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from silverpay.beijing import format_beijing, format_beijing_dashed, parse_beijing
from silverpay.errors import ProtocolError
from silverpay.sim import formats
from silverpay.sim.core.commands import (
    ApiVersion,
    BillType,
    OrderTerms,
    Prepaid,
    Prepay,
    Refund,
    RefundQuery,
    RefundsOfTrade,
    RefundView,
    TradeRef,
    TradeView,
)
from silverpay.sim.core.failures import Reason, RuleFailure
from silverpay.sim.v2_codes import ERR_CODES, REFUND_STATUS, TRADE_STATE_DESC
from silverpay.wechat.v2.signing import SignType

Fields = dict[str, str]


class CommFail(Exception):
    def __init__(self, return_msg: str) -> None:
        super().__init__(return_msg)
        self.return_msg = return_msg


FEE = re.compile(r"[1-9][0-9]{0,9}\Z")
# Fields that may change between two unifiedorder calls for the same out_trade_no.
NOT_BUSINESS = frozenset({"nonce_str", "sign", "sign_type", "spbill_create_ip"})
# Business fields that are named terms of the order; every other one is an extra term.
NAMED_TERMS = frozenset({"appid", "mch_id", "body", "out_trade_no", "total_fee", "notify_url", "trade_type",
                         "openid", "time_expire", "attach"})  # fmt: skip
UNIFIEDORDER_REQUIRED = (
    "appid", "mch_id", "nonce_str", "body", "out_trade_no", "total_fee",
    "spbill_create_ip", "notify_url", "trade_type",
)  # fmt: skip
MAX_LEN = {
    "nonce_str": 32, "body": 127, "attach": 127, "detail": 6000, "device_info": 32,
    "out_trade_no": 32, "notify_url": 256, "openid": 128, "goods_tag": 32, "product_id": 32,
}  # fmt: skip


def failure(fail: RuleFailure) -> dict[str, object]:
    return {"result_code": "FAIL", "err_code": ERR_CODES[fail.reason], "err_code_des": fail.message}


# Orders --------------------------------------------------------------------------------------


def _check_order_formats(fields: Fields) -> None:
    for name in UNIFIEDORDER_REQUIRED:
        if not fields.get(name):
            raise CommFail(f"缺少参数{name}")
    for name, limit in MAX_LEN.items():
        if formats.utf8_len(fields.get(name, "")) > limit:
            raise CommFail(f"{name}参数长度有误")
    if not formats.OUT_TRADE_NO.match(fields["out_trade_no"]):
        raise CommFail("out_trade_no参数格式错误")
    if not FEE.match(fields["total_fee"]):
        raise CommFail("total_fee参数格式错误")
    if fields.get("fee_type", "CNY") != "CNY":
        raise CommFail("fee_type参数格式错误")
    if not formats.is_ip(fields["spbill_create_ip"]):
        raise CommFail("spbill_create_ip参数格式错误")
    if not formats.is_notify_url(fields["notify_url"]):
        raise CommFail("notify_url参数格式错误")
    for name in ("time_start", "time_expire"):
        if fields.get(name):
            try:
                parse_beijing(fields[name])
            except ProtocolError:
                raise CommFail(f"{name}参数格式错误") from None
    if fields["trade_type"] == "JSAPI" and not fields.get("openid"):
        raise CommFail("JSAPI支付必须传openid")


def prepay(fields: Fields, sign_type: SignType) -> Prepay:
    """unifiedorder's fields as a command; every business field counts for re-entry (SPEC §2.3)."""
    _check_order_formats(fields)
    business = {k: v for k, v in fields.items() if k not in NOT_BUSINESS and v != ""}
    terms = OrderTerms(
        appid=fields["appid"], description=fields["body"], total_fen=int(fields["total_fee"]),
        openid=fields.get("openid", ""), notify_url=fields["notify_url"], trade_type=fields["trade_type"],
        attach=fields.get("attach", ""),
        time_expire=parse_beijing(fields["time_expire"]) if fields.get("time_expire") else None,
        extras=tuple(sorted((k, v) for k, v in business.items() if k not in NAMED_TERMS)),
    )  # fmt: skip
    return Prepay(ApiVersion.V2, fields["mch_id"], fields["out_trade_no"], terms, sign_type.value)


def prepaid(result: Prepaid) -> dict[str, object]:
    return {"trade_type": result.trade_type, "prepay_id": result.prepay_id}


def trade_ref(fields: Fields) -> TradeRef:
    transaction_id, out_trade_no = fields.get("transaction_id", ""), fields.get("out_trade_no", "")
    if not transaction_id and not out_trade_no:
        raise CommFail("transaction_id和out_trade_no不能同时为空")
    return TradeRef(fields["mch_id"], out_trade_no=out_trade_no, transaction_id=transaction_id, appid=fields["appid"])


def close_ref(fields: Fields) -> TradeRef:
    if not fields.get("out_trade_no"):
        raise CommFail("缺少参数out_trade_no")
    return TradeRef(fields["mch_id"], out_trade_no=fields["out_trade_no"], appid=fields["appid"])


def trade_answer(trade: TradeView) -> dict[str, object]:
    """orderquery: payment fields only once paid (SPEC §2.5)."""
    answer: dict[str, object] = {
        "out_trade_no": trade.out_trade_no,
        "trade_state": trade.trade_state.value,
        "trade_state_desc": TRADE_STATE_DESC[trade.trade_state],
        "total_fee": trade.total_fen,
        "attach": trade.attach,
    }
    if trade.paid_at is not None:
        answer |= {
            "openid": trade.openid,
            "is_subscribe": "N",
            "trade_type": trade.trade_type,
            "bank_type": trade.bank_type,
            "fee_type": "CNY",
            "cash_fee": trade.payer_total_fen,
            "transaction_id": trade.transaction_id,
            "time_end": format_beijing(trade.paid_at),
        }
    return answer


# Refunds -------------------------------------------------------------------------------------


def refund(fields: Fields) -> Refund:
    for name in ("out_refund_no", "total_fee", "refund_fee"):
        if not fields.get(name):
            raise CommFail(f"缺少参数{name}")
    if not formats.OUT_REFUND_NO.match(fields["out_refund_no"]):
        raise CommFail("out_refund_no参数格式错误")
    if not FEE.match(fields["total_fee"]) or not FEE.match(fields["refund_fee"]):
        raise CommFail("total_fee或refund_fee参数格式错误")
    return Refund(
        ApiVersion.V2, trade_ref(fields), fields["out_refund_no"], int(fields["total_fee"]), int(fields["refund_fee"]),
        reason=fields.get("refund_desc", ""), notify_url=fields.get("notify_url", ""),
    )  # fmt: skip


def refund_answer(refund: RefundView) -> dict[str, object]:
    return {
        "transaction_id": refund.transaction_id, "out_trade_no": refund.out_trade_no,
        "out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id, "refund_fee": refund.refund_fen,
        "settlement_refund_fee": refund.refund_fen, "total_fee": refund.total_fen,
        "settlement_total_fee": refund.total_fen, "fee_type": "CNY", "cash_fee": refund.payer_total_fen,
        "cash_refund_fee": refund.refund_fen,
    }  # fmt: skip


def refund_query(fields: Fields) -> RefundQuery:
    """By refund (out_refund_no, refund_id) or by trade (transaction_id, out_trade_no)."""
    out_refund_no, refund_id = fields.get("out_refund_no", ""), fields.get("refund_id", "")
    trade = None if out_refund_no or refund_id else trade_ref(fields)
    return RefundQuery(fields["mch_id"], fields["appid"], out_refund_no=out_refund_no, refund_id=refund_id,
                       trade=trade)  # fmt: skip


def refunds_answer(result: RefundsOfTrade) -> dict[str, object]:
    trade = result.trade
    answer: dict[str, object] = {
        "transaction_id": trade.transaction_id, "out_trade_no": trade.out_trade_no, "total_fee": trade.total_fen,
        "cash_fee": trade.payer_total_fen, "fee_type": "CNY", "refund_count": len(result.refunds),
    }  # fmt: skip
    for n, r in enumerate(result.refunds):
        answer |= {
            f"out_refund_no_{n}": r.out_refund_no, f"refund_id_{n}": r.refund_id, f"refund_channel_{n}": "ORIGINAL",
            f"refund_fee_{n}": r.refund_fen, f"settlement_refund_fee_{n}": r.refund_fen,
            f"refund_status_{n}": REFUND_STATUS[r.status], f"refund_account_{n}": "REFUND_SOURCE_UNSETTLED_FUNDS",
            f"refund_recv_accout_{n}": "支付用户的零钱",
            f"refund_success_time_{n}": format_beijing_dashed(r.success_time) if r.success_time else None,
        }  # fmt: skip
    return answer


# Bills ---------------------------------------------------------------------------------------


def bill_day(fields: Fields) -> date:
    try:
        return datetime.strptime(fields.get("bill_date", ""), "%Y%m%d").date()
    except ValueError:
        raise CommFail("invalid bill_date") from None


def bill_type(fields: Fields) -> BillType:
    try:
        return BillType(fields.get("bill_type") or "ALL")
    except ValueError:
        raise RuleFailure(Reason.BILL_TYPE_INVALID, "invalid bill_type") from None
