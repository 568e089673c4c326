"""Build the `wx.requestPayment` parameters a merchant server would hand a mini-program."""

from __future__ import annotations

import time

from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID
from silverpay.wechat.v2 import signing
from silverpay.wechat.v2.signing import SignType


def payment_sheet(
    prepay_id: str,
    openid: str,
    *,
    sign_type: SignType = SignType.MD5,
    key: str = DEMO_API_KEY,
    appid: str = DEMO_APPID,
    outcome: str = "success",
) -> dict[str, str]:
    ts, nonce, package = str(int(time.time())), signing.nonce_str(), f"prepay_id={prepay_id}"
    return {
        "appid": appid,
        "openid": openid,
        "timeStamp": ts,
        "nonceStr": nonce,
        "package": package,
        "signType": sign_type.value,
        "paySign": signing.pay_sign(appid, ts, nonce, package, sign_type, key=key),
        "outcome": outcome,
    }
