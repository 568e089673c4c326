"""The v3 mini-program paySign (SPEC §3.7)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.errors import SignatureError
from silverpay.wechat.v3 import keys, paysign
from tests.vectors import VECTORS_DIR, vector


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return keys.load_private_key((VECTORS_DIR / vector("v3_pay_sign")["private_key_file"]).read_bytes())


def args() -> tuple[str, str, str, str]:
    v = vector("v3_pay_sign")
    return v["appId"], v["timeStamp"], v["nonceStr"], v["package"]


def test_message_vector() -> None:
    assert paysign.pay_sign_message(*args()) == vector("v3_pay_sign")["message"].encode()


def test_pay_sign_vector(merchant_key: rsa.RSAPrivateKey) -> None:
    assert paysign.pay_sign(merchant_key, *args()) == vector("v3_pay_sign")["paySign"]


def test_verify_vector(merchant_key: rsa.RSAPrivateKey) -> None:
    paysign.verify_pay_sign(merchant_key.public_key(), *args(), vector("v3_pay_sign")["paySign"])


def test_pay_params(merchant_key: rsa.RSAPrivateKey) -> None:
    v = vector("v3_pay_sign")
    params = paysign.pay_params(
        merchant_key,
        v["appId"],
        "wx201410272009395522657a690389285100",
        time_stamp=v["timeStamp"],
        nonce_str=v["nonceStr"],
    )
    assert params.package == v["package"]
    assert params.signType == v["signType"] == paysign.SIGN_TYPE == "RSA"
    assert params.paySign == v["paySign"]


@pytest.mark.parametrize("index", range(4))
def test_any_changed_field_fails(merchant_key: rsa.RSAPrivateKey, index: int) -> None:
    changed = list(args())
    changed[index] += "x"
    app_id, time_stamp, nonce, package = changed
    with pytest.raises(SignatureError):
        paysign.verify_pay_sign(
            merchant_key.public_key(), app_id, time_stamp, nonce, package, vector("v3_pay_sign")["paySign"]
        )


def test_sign_type_is_not_signed(merchant_key: rsa.RSAPrivateKey) -> None:
    # The message has four lines; "RSA" is nowhere in it.
    assert b"RSA" not in paysign.pay_sign_message(*args())


def test_wrong_key_fails() -> None:
    stranger = keys.generate_private_key()
    with pytest.raises(SignatureError):
        paysign.verify_pay_sign(stranger.public_key(), *args(), vector("v3_pay_sign")["paySign"])
