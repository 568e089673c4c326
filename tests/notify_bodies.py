"""Payment notifications as tests forge them: genuine-looking, tampered, or hostile."""

from __future__ import annotations

from typing import Any

from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType


def notification(
    out_trade_no: str,
    total_fee: int,
    *,
    transaction_id: str = "4200000000202611270000000001",
    key: str = DEMO_API_KEY,
    sign_type: SignType = SignType.MD5,
    declared_sign_type: str | None = None,
    **overrides: Any,
) -> bytes:
    params: dict[str, Any] = {
        "appid": DEMO_APPID,
        "bank_type": "OTHERS",
        "cash_fee": total_fee,
        "fee_type": "CNY",
        "is_subscribe": "N",
        "mch_id": DEMO_MCH_ID,
        "nonce_str": signing.nonce_str(),
        "openid": "o-test",
        "out_trade_no": out_trade_no,
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "time_end": "20261127120000",
        "total_fee": total_fee,
        "trade_type": "JSAPI",
        "transaction_id": transaction_id,
        **overrides,
    }
    if sign_type is SignType.HMAC_SHA256 or declared_sign_type:
        params["sign_type"] = declared_sign_type or sign_type.value
    params = {k: v for k, v in params.items() if v is not None}
    params["sign"] = signing.sign(params, key, sign_type)
    return xml.encode(params).encode()


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><out_trade_no>&xxe;</out_trade_no></xml>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><a>&lol3;</a></xml>'
)
SUCCESS_REPLY = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
