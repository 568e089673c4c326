"""The bodies WeChat POSTs to a merchant's notify URL, and what counts as an acknowledgement.

v2 bodies are signed XML; v3 bodies are JSON envelopes whose resource is encrypted with the
merchant's APIv3 key (the ``Wechatpay-*`` headers that sign them are added per attempt by the
notifier).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import httpx

from silverpay.beijing import format_beijing
from silverpay.errors import XmlError
from silverpay.sim.config import Merchant
from silverpay.sim.state import SimRefund, Trade
from silverpay.sim.v3_rules import V3_REFUND_STATUS, refund_resource, transaction_json
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType
from silverpay.wechat.v3 import notification as v3


def payment_notification(trade: Trade, merchant: Merchant) -> str:
    """The signed XML of SPEC §2.10 for a paid trade, signed the way the order was."""
    sign_type = SignType(trade.sign_type)
    params: dict[str, object] = {
        "appid": trade.appid,
        "attach": trade.attach or None,
        "bank_type": trade.bank_type,
        "cash_fee": trade.cash_fee,
        "fee_type": trade.fee_type,
        "is_subscribe": "N",
        "mch_id": trade.mch_id,
        "nonce_str": signing.nonce_str(),
        "openid": trade.openid,
        "out_trade_no": trade.out_trade_no,
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "sign_type": sign_type.value if sign_type is SignType.HMAC_SHA256 else None,
        "time_end": trade.time_end,
        "total_fee": trade.total_fee,
        "trade_type": trade.trade_type,
        "transaction_id": trade.transaction_id,
    }
    params = {k: v for k, v in params.items() if v is not None}
    params["sign"] = signing.sign(params, merchant.api_key, sign_type)
    return xml.encode(params)


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


def new_notification_id(now: float) -> str:
    """``EV-`` and digits, the shape of WeChat's notification ids; the same id on every retry."""
    return "EV-" + format_beijing(now) + "".join(secrets.choice("0123456789") for _ in range(7))


def v3_payment_notification(answer: Mapping[str, object], appid: str, merchant: Merchant, now: float) -> str:
    """``TRANSACTION.SUCCESS`` for a paid trade; the resource is its v3 query answer (SPEC §3.4)."""
    resource = transaction_json(answer, appid, merchant.mch_id)
    return v3.build_notification(
        resource, notification_id=new_notification_id(now), event_type=v3.EVENT_TRANSACTION_SUCCESS,
        summary="支付成功", original_type="transaction", create_time=now, api_v3_key=merchant.api_v3_key,
    ).decode()  # fmt: skip


V3_REFUND_EVENTS = {"SUCCESS": v3.EVENT_REFUND_SUCCESS, "CLOSED": v3.EVENT_REFUND_CLOSED,
                    "ABNORMAL": v3.EVENT_REFUND_ABNORMAL}  # fmt: skip
V3_REFUND_SUMMARIES = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}


def v3_refund_notification(refund: SimRefund, merchant: Merchant, now: float) -> str:
    """``REFUND.SUCCESS`` / ``REFUND.CLOSED`` / ``REFUND.ABNORMAL`` for a refund that finished."""
    status = V3_REFUND_STATUS.get(refund.refund_status, refund.refund_status)
    return v3.build_notification(
        refund_resource(refund), notification_id=new_notification_id(now), event_type=V3_REFUND_EVENTS[status],
        summary=V3_REFUND_SUMMARIES[status], original_type="refund", create_time=now, api_v3_key=merchant.api_v3_key,
    ).decode()  # fmt: skip
