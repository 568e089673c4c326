"""Test-side helpers to speak raw API v2 to the simulator (so tests can also speak it wrongly)."""

from __future__ import annotations

from typing import Any

import httpx

from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType


def signed_body(params: dict[str, Any], key: str = DEMO_API_KEY, sign_type: SignType = SignType.MD5) -> str:
    full = {"appid": DEMO_APPID, "mch_id": DEMO_MCH_ID, "nonce_str": signing.nonce_str(), **params}
    if sign_type is SignType.HMAC_SHA256:
        full["sign_type"] = sign_type.value
    full = {k: v for k, v in full.items() if v is not None}
    full["sign"] = signing.sign(full, key, sign_type)
    return xml.encode(full)


async def call(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, Any],
    *,
    key: str = DEMO_API_KEY,
    sign_type: SignType = SignType.MD5,
    verify: bool = True,
) -> dict[str, str]:
    """POST a signed request; check the answer's signature (with the request's sign type) if it has one."""
    response = await client.post(path, content=signed_body(params, key, sign_type))
    assert response.status_code == 200
    answer = xml.decode(response.content)
    if verify and answer["return_code"] == "SUCCESS":
        assert "sign_type" not in answer  # WeChat does not echo it: the caller knows its own
        expected = signing.sign(answer, key, sign_type)
        assert answer["sign"] == expected, "simulator answer is not signed with the request's sign type"
    return answer


def order_params(out_trade_no: str, openid: str, total_fee: int = 101, **extra: Any) -> dict[str, Any]:
    return {
        "body": "silverpay test order",
        "out_trade_no": out_trade_no,
        "total_fee": total_fee,
        "spbill_create_ip": "127.0.0.1",
        "notify_url": "http://merchant.test/notify",
        "trade_type": "JSAPI",
        "openid": openid,
        **extra,
    }
