"""API v2 signatures (SPEC §2.2) and the mini-program ``paySign`` (SPEC §2.4).

Pure functions over ``Mapping[str, str]``. The algorithm of a received message is the one its own
``sign_type`` names (MD5 when absent), never a guess from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from enum import StrEnum

from silverpay.errors import SignatureError


class SignType(StrEnum):
    MD5 = "MD5"
    HMAC_SHA256 = "HMAC-SHA256"

    @classmethod
    def parse(cls, value: str | None) -> SignType:
        """The sign type a message declares; absent means MD5, anything unknown is an error."""
        if value is None or value == "":
            return cls.MD5
        try:
            return cls(value)
        except ValueError:
            raise SignatureError("unsupported sign_type") from None


def nonce_str() -> str:
    """32 random hex characters: WeChat's ``nonce_str`` allows at most 32."""
    return secrets.token_hex(16)


def string_a(params: Mapping[str, object]) -> str:
    """``k1=v1&k2=v2…`` over the non-empty parameters, ``sign`` excluded, names in ASCII order."""
    pairs = [
        (name, str(value))
        for name, value in params.items()
        if name != "sign" and value is not None and str(value) != ""
    ]
    pairs.sort(key=lambda pair: pair[0])
    return "&".join(f"{name}={value}" for name, value in pairs)


def sign(params: Mapping[str, object], key: str, sign_type: SignType) -> str:
    """The uppercase hex signature of ``params`` with the API v2 ``key``."""
    message = f"{string_a(params)}&key={key}".encode()
    if sign_type is SignType.HMAC_SHA256:
        digest = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.md5(message, usedforsecurity=False).hexdigest()
    return digest.upper()


def verify(params: Mapping[str, str], key: str) -> SignType:
    """Check the ``sign`` of a received message with the algorithm its ``sign_type`` declares.

    Returns that sign type; raises :class:`SignatureError` when the signature is missing, the
    type unknown, or the value wrong. The comparison is constant-time.
    """
    given = params.get("sign")
    if not given:
        raise SignatureError("signature missing")
    sign_type = SignType.parse(params.get("sign_type"))
    expected = sign(params, key, sign_type)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("signature does not verify")
    return sign_type


def pay_sign_params(app_id: str, time_stamp: str, nonce: str, package: str, sign_type: SignType) -> dict[str, str]:
    """The five fields ``wx.requestPayment`` signs, with their camelCase names (``appId`` included)."""
    return {
        "appId": app_id,
        "timeStamp": time_stamp,
        "nonceStr": nonce,
        "package": package,
        "signType": sign_type.value,
    }


def pay_sign(app_id: str, time_stamp: str, nonce: str, package: str, sign_type: SignType, *, key: str) -> str:
    """The v2 ``paySign`` that ``wx.requestPayment`` checks."""
    return sign(pay_sign_params(app_id, time_stamp, nonce, package, sign_type), key, sign_type)
