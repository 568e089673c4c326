"""AEAD_AES_256_GCM with the APIv3 key (SPEC §3.3)."""

from __future__ import annotations

import base64

import pytest

from silverpay.errors import ConfigError, DecryptionError
from silverpay.wechat.v3 import aead
from tests.vectors import vector


def test_vector_decrypts() -> None:
    v = vector("v3_aead_aes_256_gcm")
    plain = aead.decrypt(v["api_v3_key"], v["nonce"], v["associated_data"], v["ciphertext"])
    assert plain == v["plaintext"].encode()
    assert aead.decrypt_text(v["api_v3_key"].encode(), v["nonce"], v["associated_data"], v["ciphertext"]) == "message"


def test_vector_encrypts() -> None:
    v = vector("v3_aead_aes_256_gcm")
    assert aead.encrypt(v["api_v3_key"], v["nonce"], v["associated_data"], v["plaintext"]) == v["ciphertext"]


def test_round_trip_with_empty_associated_data() -> None:
    key, nonce = "k" * 32, aead.new_nonce()
    sealed = aead.encrypt(key, nonce, "", '{"out_trade_no":"o-1","note":"中文"}')
    assert aead.decrypt_text(key, nonce, "", sealed) == '{"out_trade_no":"o-1","note":"中文"}'
    # ciphertext carries the 16-byte tag after the plaintext bytes
    assert len(base64.b64decode(sealed)) == len('{"out_trade_no":"o-1","note":"中文"}'.encode()) + 16


def test_new_nonce_shape() -> None:
    nonce = aead.new_nonce()
    assert len(nonce) == 12 and nonce.isalnum() and nonce.isascii()


def tampered(ciphertext: str) -> str:
    raw = bytearray(base64.b64decode(ciphertext))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_v3_key", "b7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"),  # wrong key
        ("nonce", "uluk4a9R25RX"),  # wrong nonce
        ("associated_data", "associatedDatb"),  # wrong AAD
        ("associated_data", ""),
        ("ciphertext", None),  # tampered, filled below
        ("ciphertext", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzw=="),  # truncated tag
        ("ciphertext", "AAAA"),  # shorter than a tag
        ("ciphertext", ""),
        ("ciphertext", "not base64!"),
        ("nonce", "short"),  # RFC 5116: the nonce is 12 octets
        ("nonce", "uluk4a9R25RWx"),
    ],
)
def test_anything_altered_is_a_decryption_error(field: str, value: str | None) -> None:
    v = dict(vector("v3_aead_aes_256_gcm"))
    v[field] = tampered(v["ciphertext"]) if value is None else value
    with pytest.raises(DecryptionError):
        aead.decrypt(v["api_v3_key"], v["nonce"], v["associated_data"], v["ciphertext"])


@pytest.mark.parametrize("key", ["testAPIv3Key0000", "", "k" * 33])
def test_key_must_be_32_bytes(key: str) -> None:
    # The wechatpay-go 16-byte vector (SPEC §3.3) is AES-128-GCM: not what WeChat uses, refused.
    with pytest.raises(ConfigError):
        aead.decrypt(key, "wCq51qZv4Yfg", "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC")
    with pytest.raises(ConfigError):
        aead.encrypt(key, "wCq51qZv4Yfg", "", "x")


def test_encrypt_refuses_a_bad_nonce() -> None:
    with pytest.raises(ValueError, match="12 bytes"):
        aead.encrypt("k" * 32, "short", "", "x")


def test_non_utf8_plaintext_is_a_decryption_error() -> None:
    key, nonce = "k" * 32, "123456789012"
    sealed = aead.encrypt(key, nonce, "", b"\xff\xfe")
    assert aead.decrypt(key, nonce, "", sealed) == b"\xff\xfe"
    with pytest.raises(DecryptionError):
        aead.decrypt_text(key, nonce, "", sealed)
