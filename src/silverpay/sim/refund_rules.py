"""Refunds on the platform side (SPEC §2.7, §2.8, §2.11): accept, process after a delay, notify."""

from __future__ import annotations

import re
import secrets

from silverpay.beijing import format_beijing, format_beijing_dashed
from silverpay.sim.config import Merchant, SimConfig
from silverpay.sim.pay_rules import BizFail, CommFail, check_app, find_trade
from silverpay.sim.state import SimRefund, SimState, Trade
from silverpay.wechat.v2 import xml
from silverpay.wechat.v2.crypto import encrypt_req_info
from silverpay.wechat.v2.signing import nonce_str

OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}\Z")
FEE = re.compile(r"[1-9][0-9]{0,9}\Z")
MAX_REFUNDS = 50


def refund(config: SimConfig, state: SimState, fields: dict[str, str], now: float, *,
           outcome: str = "SUCCESS", delay_s: float = 1.0) -> dict[str, object]:  # fmt: skip
    check_app(config, fields)
    for name in ("out_refund_no", "total_fee", "refund_fee"):
        if not fields.get(name):
            raise CommFail(f"缺少参数{name}")
    if not OUT_REFUND_NO.match(fields["out_refund_no"]):
        raise CommFail("out_refund_no参数格式错误")
    if not FEE.match(fields["total_fee"]) or not FEE.match(fields["refund_fee"]):
        raise CommFail("total_fee或refund_fee参数格式错误")
    trade = find_trade(state, fields)
    if trade.trade_state not in ("SUCCESS", "REFUND"):
        raise BizFail("ORDERNOTEXIST", "未支付的订单不能发起退款")
    total_fee, refund_fee = int(fields["total_fee"]), int(fields["refund_fee"])
    if total_fee != trade.total_fee:
        raise BizFail("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
    existing = state.refunds.get(f"{trade.mch_id}:{fields['out_refund_no']}")
    if existing is not None:  # the same out_refund_no refunds once (SPEC §2.7)
        if existing.refund_fee != refund_fee or existing.out_trade_no != trade.out_trade_no:
            raise BizFail("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
        return _answer(existing, trade)
    others = state.refunds_of(trade)
    if len(others) >= MAX_REFUNDS:
        raise BizFail("ERROR", "退款次数超过限制")
    reserved = sum(r.refund_fee for r in others if r.refund_status != "REFUNDCLOSE")
    if reserved + refund_fee > trade.total_fee:
        raise BizFail("ERROR", "累计退款金额大于支付金额")
    created = SimRefund(
        mch_id=trade.mch_id, out_refund_no=fields["out_refund_no"], out_trade_no=trade.out_trade_no,
        transaction_id=trade.transaction_id, refund_id="5030" + format_beijing(now) + secrets.token_hex(5)[:10],
        total_fee=total_fee, refund_fee=refund_fee, refund_desc=fields.get("refund_desc", ""),
        notify_url=fields.get("notify_url", ""), created_at=now, due_at=now + delay_s, outcome=outcome,
    )  # fmt: skip
    state.save_refund(created)
    trade.trade_state = "REFUND"
    trade.history.append({"at": now, "event": f"refund {created.out_refund_no} accepted"})
    state.save_trade(trade)
    return _answer(created, trade)


def _answer(refund: SimRefund, trade: Trade) -> dict[str, object]:
    return {
        "transaction_id": trade.transaction_id, "out_trade_no": trade.out_trade_no,
        "out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id, "refund_fee": refund.refund_fee,
        "settlement_refund_fee": refund.refund_fee, "total_fee": trade.total_fee,
        "settlement_total_fee": trade.total_fee, "fee_type": "CNY", "cash_fee": trade.cash_fee,
        "cash_refund_fee": refund.refund_fee,
    }  # fmt: skip


def refund_query(config: SimConfig, state: SimState, fields: dict[str, str], now: float) -> dict[str, object]:
    check_app(config, fields)
    if fields.get("out_refund_no") or fields.get("refund_id"):
        matches = [r for r in state.refunds.values() if r.mch_id == fields["mch_id"] and (
            r.out_refund_no == fields.get("out_refund_no") or r.refund_id == fields.get("refund_id"))]  # fmt: skip
        trade = state.trade(fields["mch_id"], matches[0].out_trade_no) if matches else None
    else:
        try:
            trade = find_trade(state, fields)
        except BizFail:
            trade = None
        matches = state.refunds_of(trade) if trade else []
    if not matches or trade is None:
        raise BizFail("REFUNDNOTEXIST", "退款订单查询失败")
    answer: dict[str, object] = {
        "transaction_id": trade.transaction_id, "out_trade_no": trade.out_trade_no, "total_fee": trade.total_fee,
        "cash_fee": trade.cash_fee, "fee_type": "CNY", "refund_count": len(matches),
    }  # fmt: skip
    for n, r in enumerate(matches):
        answer |= {
            f"out_refund_no_{n}": r.out_refund_no, f"refund_id_{n}": r.refund_id, f"refund_channel_{n}": "ORIGINAL",
            f"refund_fee_{n}": r.refund_fee, f"settlement_refund_fee_{n}": r.refund_fee,
            f"refund_status_{n}": r.refund_status, f"refund_account_{n}": "REFUND_SOURCE_UNSETTLED_FUNDS",
            f"refund_recv_accout_{n}": "支付用户的零钱",
            f"refund_success_time_{n}": format_beijing_dashed(r.success_time) if r.success_time else None,
        }  # fmt: skip
    return answer


def finish_due(state: SimState, now: float) -> list[SimRefund]:
    """Move every refund whose processing time has passed to its outcome; returns those that moved."""
    finished = []
    for r in state.refunds.values():
        if r.refund_status == "PROCESSING" and r.due_at <= now:
            r.refund_status = r.outcome
            r.success_time = now if r.outcome == "SUCCESS" else None
            state.save_refund(r)
            finished.append(r)
    return finished


def refund_notification(refund: SimRefund, appid: str, merchant: Merchant) -> str:
    """The SPEC §2.11 body: no sign, the result encrypted in req_info with the merchant's key."""
    inner = {
        "transaction_id": refund.transaction_id, "out_trade_no": refund.out_trade_no,
        "refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no, "total_fee": refund.total_fee,
        "settlement_total_fee": refund.total_fee, "refund_fee": refund.refund_fee,
        "settlement_refund_fee": refund.refund_fee, "refund_status": refund.refund_status,
        "success_time": format_beijing_dashed(refund.success_time) if refund.success_time else None,
        "refund_recv_accout": "支付用户的零钱", "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
        "refund_request_source": "API",
    }  # fmt: skip
    req_info = encrypt_req_info(xml.encode(inner, root="root"), merchant.api_key)
    outer = {"return_code": "SUCCESS", "appid": appid, "mch_id": merchant.mch_id, "nonce_str": nonce_str(),
             "req_info": req_info}  # fmt: skip
    return xml.encode(outer)
