"""The bodies WeChat POSTs to a merchant's notify URL, and what counts as an acknowledgement."""

from __future__ import annotations

import httpx

from silverpay.errors import XmlError
from silverpay.sim.config import Merchant
from silverpay.sim.state import Trade
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType


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
