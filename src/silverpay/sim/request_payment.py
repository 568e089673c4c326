"""What `wx.requestPayment` does on the platform side: check paySign, then pay, cancel or fail."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from silverpay.errors import ConfigError, SignatureError
from silverpay.sim.config import Merchant
from silverpay.sim.core import trades
from silverpay.sim.core.commands import ApiVersion
from silverpay.sim.core.failures import RuleFailure
from silverpay.sim.notifications import payment_body
from silverpay.sim.simulator import Simulator
from silverpay.sim.state import Trade
from silverpay.wechat.v2 import signing
from silverpay.wechat.v2.signing import SignType
from silverpay.wechat.v3 import paysign
from silverpay.wechat.v3.keys import load_public_key

PACKAGE = re.compile(r"prepay_id=(\S+)\Z")
OUTCOMES = ("success", "cancel", "fail")


class PaymentRefused(Exception):
    """The sheet does not open or the payment does not go through: a ``requestPayment:fail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.err_msg = f"requestPayment:fail {detail}"


@dataclass(frozen=True)
class PaymentSheet:
    appid: str
    openid: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str
    outcome: str = "success"


def request_payment(sim: Simulator, sheet: PaymentSheet) -> str:
    """Apply ``sheet``; returns the transaction_id of a successful payment."""
    if sheet.outcome not in OUTCOMES:
        raise PaymentRefused(400, f"outcome must be one of {', '.join(OUTCOMES)}")
    app = sim.config.apps.get(sheet.appid)
    merchant = sim.merchant(app.mch_id) if app and app.mch_id else None
    if app is None or merchant is None:
        raise PaymentRefused(400, "appid is not a payment-enabled mini-program")
    match = PACKAGE.match(sheet.package)
    if not match:
        raise PaymentRefused(400, "package must be prepay_id=…")
    if not sheet.time_stamp.isdigit() or not 0 < len(sheet.nonce_str) <= 32:
        raise PaymentRefused(400, "timeStamp must be digits and nonceStr 1–32 characters")
    trade = sim.state.trade_by_prepay(match.group(1))
    if trade is None or trade.appid != sheet.appid:
        raise PaymentRefused(404, "prepay_id not found")
    if trade.openid != sheet.openid:
        raise PaymentRefused(403, "this order belongs to another user")
    _check_pay_sign(sheet, trade, merchant)

    now = sim.clock.now()
    try:
        trades.check_payable(trade, match.group(1), now)
    except RuleFailure as refused:
        raise PaymentRefused(409, refused.message) from None
    if sheet.outcome == "cancel":
        raise PaymentRefused(400, "cancel")
    if sheet.outcome == "fail":
        raise PaymentRefused(400, "支付失败")  # the trade stays NOTPAY: the user may try again

    trades.mark_paid(sim.state, trade, now)
    sim.shipping.on_paid(trade, now)
    if trade.notify_url:  # seeded trades may have none
        sim.notifier.enqueue("payment", trade.mch_id, trade.out_trade_no, trade.notify_url,
                             payment_body(trade, merchant, now), api=trade.api)  # fmt: skip
    return trade.transaction_id


def _check_pay_sign(sheet: PaymentSheet, trade: Trade, merchant: Merchant) -> None:
    """Signed the way the order's API version signs paySign, with the sign type of its last prepay."""
    if trade.api is ApiVersion.V3 or sheet.sign_type == paysign.SIGN_TYPE:
        _check_rsa_pay_sign(sheet, trade.sign_type, merchant)
        return
    order_sign_type = trade.sign_type
    try:
        sign_type = SignType.parse(sheet.sign_type)
    except SignatureError:
        raise PaymentRefused(400, "signType must be MD5 or HMAC-SHA256") from None
    if sign_type.value != order_sign_type:
        raise PaymentRefused(403, "signType differs from the one used for unifiedorder")
    expected = signing.pay_sign(
        sheet.appid, sheet.time_stamp, sheet.nonce_str, sheet.package, sign_type, key=merchant.api_key
    )
    if not hmac.compare_digest(expected.encode(), sheet.pay_sign.encode()):
        raise PaymentRefused(403, "支付验证签名失败")


def _check_rsa_pay_sign(sheet: PaymentSheet, order_sign_type: str, merchant: Merchant) -> None:
    """A v3 order's paySign: SHA256withRSA by the merchant's API certificate key (SPEC §3.7)."""
    if sheet.sign_type != order_sign_type:
        raise PaymentRefused(403, "signType differs from the one the order's API version uses")
    try:
        public_key = load_public_key(merchant.mch_public_key_pem)
    except ConfigError:
        raise PaymentRefused(403, "the merchant has no API certificate for RSA paySign") from None
    try:
        paysign.verify_pay_sign(public_key, sheet.appid, sheet.time_stamp, sheet.nonce_str, sheet.package,
                                sheet.pay_sign)  # fmt: skip
    except SignatureError:
        raise PaymentRefused(403, "支付验证签名失败") from None
