"""The v3 ``paySign`` of ``wx.requestPayment`` (SPEC §3.7).

Message ``appId\\ntimeStamp\\nnonceStr\\npackage\\n`` (the last line ends in ``\\n`` too), signed
SHA256withRSA with the merchant private key. ``signType`` is ``"RSA"``; it is passed to
``wx.requestPayment`` but is not part of the message. ``appId`` is signed but not passed: it must be
the appid the order was placed with.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.wechat.gateway import PayParams
from silverpay.wechat.v3.signing import sign, verify_signature

SIGN_TYPE = "RSA"


def pay_sign_message(app_id: str, time_stamp: str, nonce_str: str, package: str) -> bytes:
    return f"{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n".encode()


def pay_sign(private_key: rsa.RSAPrivateKey, app_id: str, time_stamp: str, nonce_str: str, package: str) -> str:
    """Base64 SHA256withRSA of the four lines; deterministic for a given key."""
    return sign(private_key, pay_sign_message(app_id, time_stamp, nonce_str, package))


def verify_pay_sign(
    public_key: rsa.RSAPublicKey, app_id: str, time_stamp: str, nonce_str: str, package: str, pay_sign_value: str
) -> None:
    """The simulator's check of what ``wx.requestPayment`` received; :class:`SignatureError` if wrong."""
    verify_signature(public_key, pay_sign_message(app_id, time_stamp, nonce_str, package), pay_sign_value)


def pay_params(
    private_key: rsa.RSAPrivateKey, app_id: str, prepay_id: str, *, time_stamp: str, nonce_str: str
) -> PayParams:
    """Everything ``wx.requestPayment`` takes for ``prepay_id`` (``package`` is ``prepay_id=…``)."""
    package = f"prepay_id={prepay_id}"
    return PayParams(
        timeStamp=time_stamp,
        nonceStr=nonce_str,
        package=package,
        signType=SIGN_TYPE,
        paySign=pay_sign(private_key, app_id, time_stamp, nonce_str, package),
    )
