import pytest

from silverpay.errors import SignatureError
from silverpay.wechat.v2 import signing
from silverpay.wechat.v2.signing import SignType
from tests.vectors import vector, vectors

SIGN_VECTORS = [name for name in vectors() if name.startswith("v2_sign_")]
PAY_SIGN_VECTORS = [name for name in vectors() if name.startswith("v2_pay_sign_")]


def test_every_v2_sign_vector_is_covered() -> None:
    assert set(SIGN_VECTORS) == {"v2_sign_official", "v2_sign_ignores_empty_and_sign", "v2_sign_wechatpy"}
    assert set(PAY_SIGN_VECTORS) == {"v2_pay_sign_official", "v2_pay_sign_hmac"}


@pytest.mark.parametrize("name", SIGN_VECTORS)
def test_sign_vectors(name: str) -> None:
    v = vector(name)
    assert signing.sign(v["params"], v["key"], SignType.MD5) == v["md5"]
    if "hmac_sha256" in v:
        assert signing.sign(v["params"], v["key"], SignType.HMAC_SHA256) == v["hmac_sha256"]
    if "string_a" in v:
        assert signing.string_a(v["params"]) == v["string_a"]


@pytest.mark.parametrize("name", PAY_SIGN_VECTORS)
def test_pay_sign_vectors(name: str) -> None:
    v = vector(name)
    p = v["params"]
    result = signing.pay_sign(
        p["appId"], p["timeStamp"], p["nonceStr"], p["package"], SignType(p["signType"]), key=v["key"]
    )
    assert result == v["paySign"]


def test_notification_vector_verifies_with_declared_md5() -> None:
    v = vector("v2_pay_notify")
    message = {**v["params"], "sign": v["sign"]}
    assert signing.verify(message, v["key"]) is SignType.MD5


def test_verify_uses_the_messages_own_sign_type() -> None:
    key = vector("v2_sign_official")["key"]
    params = {"a": "1", "sign_type": "HMAC-SHA256"}
    params["sign"] = signing.sign(params, key, SignType.HMAC_SHA256)
    assert signing.verify(params, key) is SignType.HMAC_SHA256
    # The same message signed with MD5 but declaring HMAC must not verify.
    params["sign"] = signing.sign(params, key, SignType.MD5)
    with pytest.raises(SignatureError):
        signing.verify(params, key)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.update(total_fee="2"),
        lambda m: m.update(sign=m["sign"].lower()),
        lambda m: m.pop("sign"),
        lambda m: m.update(sign_type="SHA1"),
        lambda m: m.update(extra_field="x"),  # unknown fields are signed too
    ],
)
def test_tampered_messages_fail(tamper) -> None:  # type: ignore[no-untyped-def]
    v = vector("v2_pay_notify")
    message = {**v["params"], "sign": v["sign"]}
    tamper(message)
    with pytest.raises(SignatureError):
        signing.verify(message, v["key"])


def test_wrong_key_fails() -> None:
    v = vector("v2_pay_notify")
    with pytest.raises(SignatureError):
        signing.verify({**v["params"], "sign": v["sign"]}, "0" * 32)


def test_sign_type_parse() -> None:
    assert SignType.parse(None) is SignType.MD5
    assert SignType.parse("") is SignType.MD5
    assert SignType.parse("HMAC-SHA256") is SignType.HMAC_SHA256
    with pytest.raises(SignatureError):
        SignType.parse("hmac-sha256")


def test_nonce_is_random_and_within_32_chars() -> None:
    nonces = {signing.nonce_str() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) == 32 and n.isalnum() for n in nonces)
