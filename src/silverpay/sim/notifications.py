"""The bodies WeChat POSTs to a merchant's notify URL, and what counts as an acknowledgement.

A trade or refund is notified in the format of the API version that made it (``Trade.api``,
``SimRefund.api``). v2 bodies are signed XML (a refund's result encrypted in ``req_info``); v3
bodies are JSON envelopes whose resource is encrypted with the merchant's APIv3 key (the
``Wechatpay-*`` headers that sign them are added per attempt by the notifier).
"""

from __future__ import annotations

import secrets

import httpx

from silverpay.beijing import format_beijing, format_beijing_dashed
from silverpay.errors import XmlError
from silverpay.sim.config import Merchant
from silverpay.sim.core.commands import ApiVersion, RefundStatus
from silverpay.sim.core.trades import view
from silverpay.sim.state import SimRefund, Trade
from silverpay.sim.v2_codes import REFUND_STATUS
from silverpay.sim.v3_json import refund_resource, transaction_json
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.crypto import encrypt_req_info
from silverpay.wechat.v2.signing import SignType
from silverpay.wechat.v3 import notification as v3

V3_REFUND_EVENTS = {RefundStatus.SUCCESS: (v3.EVENT_REFUND_SUCCESS, "退款成功"),
                    RefundStatus.CLOSED: (v3.EVENT_REFUND_CLOSED, "退款关闭"),
                    RefundStatus.ABNORMAL: (v3.EVENT_REFUND_ABNORMAL, "退款异常")}  # fmt: skip


def payment_body(trade: Trade, merchant: Merchant, now: float) -> str:
    return _v3_payment(trade, merchant, now) if trade.api is ApiVersion.V3 else _v2_payment(trade, merchant)


def refund_body(refund: SimRefund, trade: Trade, merchant: Merchant, now: float) -> str:
    """For a refund that finished (SUCCESS, CLOSED or ABNORMAL)."""
    return _v3_refund(refund, merchant, now) if refund.api is ApiVersion.V3 else _v2_refund(refund, trade, merchant)


def _v2_payment(trade: Trade, merchant: Merchant) -> str:
    """The signed XML of SPEC §2.10, signed the way the order was."""
    sign_type = SignType(trade.sign_type)
    params: dict[str, object] = {
        "appid": trade.appid,
        "attach": trade.attach or None,
        "bank_type": trade.bank_type,
        "cash_fee": trade.payer_total_fen,
        "fee_type": "CNY",
        "is_subscribe": "N",
        "mch_id": trade.mch_id,
        "nonce_str": signing.nonce_str(),
        "openid": trade.openid,
        "out_trade_no": trade.out_trade_no,
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "sign_type": sign_type.value if sign_type is SignType.HMAC_SHA256 else None,
        "time_end": format_beijing(trade.paid_at) if trade.paid_at is not None else None,
        "total_fee": trade.total_fen,
        "trade_type": trade.trade_type,
        "transaction_id": trade.transaction_id,
    }
    params = {k: v for k, v in params.items() if v is not None}
    params["sign"] = signing.sign(params, merchant.api_key, sign_type)
    return xml.encode(params)


def _v2_refund(refund: SimRefund, trade: Trade, merchant: Merchant) -> str:
    """The SPEC §2.11 body: no sign, the result encrypted in req_info with the merchant's key."""
    inner = {
        "transaction_id": refund.transaction_id, "out_trade_no": refund.out_trade_no,
        "refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no, "total_fee": refund.total_fen,
        "settlement_total_fee": refund.total_fen, "refund_fee": refund.refund_fen,
        "settlement_refund_fee": refund.refund_fen, "refund_status": REFUND_STATUS[refund.status],
        "success_time": format_beijing_dashed(refund.success_time) if refund.success_time else None,
        "refund_recv_accout": "支付用户的零钱", "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
        "refund_request_source": "API",
    }  # fmt: skip
    req_info = encrypt_req_info(xml.encode(inner, root="root"), merchant.api_key)
    outer = {"return_code": "SUCCESS", "appid": trade.appid, "mch_id": merchant.mch_id,
             "nonce_str": signing.nonce_str(), "req_info": req_info}  # fmt: skip
    return xml.encode(outer)


def new_notification_id(now: float) -> str:
    """``EV-`` and digits, the shape of WeChat's notification ids; the same id on every retry."""
    return "EV-" + format_beijing(now) + "".join(secrets.choice("0123456789") for _ in range(7))


def _v3_payment(trade: Trade, merchant: Merchant, now: float) -> str:
    """``TRANSACTION.SUCCESS``; the resource is what a v3 query answers for the trade (SPEC §3.4)."""
    return v3.build_notification(
        transaction_json(view(trade)), notification_id=new_notification_id(now),
        event_type=v3.EVENT_TRANSACTION_SUCCESS, summary="支付成功", original_type="transaction", create_time=now,
        api_v3_key=merchant.api_v3_key,
    ).decode()  # fmt: skip


def _v3_refund(refund: SimRefund, merchant: Merchant, now: float) -> str:
    """``REFUND.SUCCESS`` / ``REFUND.CLOSED`` / ``REFUND.ABNORMAL``."""
    event_type, summary = V3_REFUND_EVENTS[refund.status]
    return v3.build_notification(
        refund_resource(refund), notification_id=new_notification_id(now), event_type=event_type, summary=summary,
        original_type="refund", create_time=now, api_v3_key=merchant.api_v3_key,
    ).decode()  # fmt: skip


def is_acknowledged(response: httpx.Response) -> bool:
    """Only a 200 whose body is WeChat's reply XML with return_code=SUCCESS stops the retries.

    Plain ``success``, JSON, HTML or an empty body all count as failures (SPEC §2.10).
    """
    if response.status_code != 200:
        return False
    try:
        reply = xml.decode(response.content)
    except XmlError:
        return False
    return reply.get("return_code") == "SUCCESS"
