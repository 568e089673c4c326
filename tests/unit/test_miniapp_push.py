"""Message-push checks and crypto: known-answer vectors from the published algorithm, a cross-check
with an independent implementation (wechatpy's WeChatCrypto) in both directions, and refusals."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto

from silverpay.errors import ConfigError, NotificationRejected
from silverpay.wechat.miniapp import push
from silverpay.wechat.miniapp.push import (
    OrderSettlement,
    OtherPush,
    PushFormat,
    PushKeys,
    PushMode,
    RemindAccessApi,
    RemindShipping,
    build_push,
    check_url,
    decrypt,
    encrypt,
    verify_push,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2b3c4d5e6f708192"
TOKEN = "pushtoken123"
KEYS = PushKeys(TOKEN, APPID, AES_KEY)

# Vectors built by hand from the published algorithm with the openssl and sha1sum commands, not
# with silverpay (key = base64 -d of AES_KEY + "=", IV = its first 16 bytes; plaintext = random16,
# the length as 4 big-endian bytes, the message, the appid; padded to 32 bytes with the pad count):
#   printf ... > plain.bin; openssl enc -aes-256-cbc -nopad -K $KEY -iv ${KEY:0:32} -in plain.bin | base64 -w0
#   printf '%s\n' TOKEN TIMESTAMP NONCE [ENCRYPT] | LC_ALL=C sort | tr -d '\n' | sha1sum
KEY_HEX = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
# WeChat's own sample (its message-encryption sample code's test: appid wxb11529c136998cb6, random
# "aaaabbbbccccdddd", reply "我是中文abcd123"); the openssl commands above reproduce it exactly.
OFFICIAL = {
    "appid": "wxb11529c136998cb6",
    "message": "我是中文abcd123",
    "encrypt": "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==",
}
JSON_MESSAGE = (
    '{"ToUserName":"gh_2f1c9a0b7e3d","FromUserName":"o_WeChatTradeManageSystemUser0","CreateTime":1700000000,'
    '"MsgType":"event","Event":"trade_manage_remind_access_api","msg":"请尽快接入发货信息管理服务API"}'
)
JSON_ENCRYPT = (
    "jn1L23DB+6ELqJ+6bruv2yvzf9rcyNabQQyMQH5FVqcF0H9X9Q/S4bc2qmTjclBS1Q5l4FI7aAy7nSC8TR7bjJxfcp0+Rqx99moM+djd45+pE32e"
    "Y0x3dgud4V5Z3jYBODp3/UG9zoB1liKXq2DNCQTqQ+h3/zwP7hcAyR2M7OQRVdQwzVMMEZ+0CZuOaDmaEeb1X3ZEthTGC/kWlQpo58fWwRBQl76x"
    "IdiQi54wtpiJsd/k729cZQSA//tD0K1wmNQxvByUfQ+m7gsBL+df8n8PubvWcDTAuSrN6e2n5hRvvunrv2TKU6Vqrbp4er8hqlCedID4hhm4Yk7A"
    "Sol8sw=="
)
TIMESTAMP, NONCE = "1700000000", "1234567890"
SIGNATURE = "d515d0798d7e4e9646ac1a1d9b2d234eaea53a78"  # token, timestamp, nonce
MSG_SIGNATURE = "f3911dfd3d85ded4d1aa4d7177a011a86791b3a0"  # token, timestamp, nonce, JSON_ENCRYPT
RANDOM16 = b"aaaabbbbccccdddd"


def test_key_derivation() -> None:
    assert KEYS.aes_key().hex() == KEY_HEX
    for bad in ("", AES_KEY[:-1], AES_KEY + "A", "!" * 43):
        with pytest.raises(ConfigError):
            push.aes_key(bad)


def test_known_answers() -> None:
    key = KEYS.aes_key()
    official = encrypt(key, OFFICIAL["message"].encode(), OFFICIAL["appid"], random16=RANDOM16)
    assert official == OFFICIAL["encrypt"]
    assert decrypt(key, OFFICIAL["encrypt"], OFFICIAL["appid"]).decode() == OFFICIAL["message"]
    assert encrypt(key, JSON_MESSAGE.encode(), APPID, random16=RANDOM16) == JSON_ENCRYPT
    assert decrypt(key, JSON_ENCRYPT, APPID).decode() == JSON_MESSAGE
    assert push.signature(TOKEN, TIMESTAMP, NONCE) == SIGNATURE
    assert push.signature(TOKEN, TIMESTAMP, NONCE, JSON_ENCRYPT) == MSG_SIGNATURE


def test_padding_is_to_32_bytes_and_a_full_block_when_aligned() -> None:
    key = KEYS.aes_key()
    for size in range(0, 70):
        message = b"x" * size
        data = base64.b64decode(encrypt(key, message, APPID))
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        count = plain[-1]
        assert len(plain) % 32 == 0 and 1 <= count <= 32 and plain[-count:] == bytes([count]) * count
        assert len(plain) - count == 16 + 4 + size + len(APPID)


def test_verify_the_known_answer_push() -> None:
    query = {"signature": SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE, "encrypt_type": "aes",
             "msg_signature": MSG_SIGNATURE}  # fmt: skip
    body = json.dumps({"ToUserName": "gh_2f1c9a0b7e3d", "Encrypt": JSON_ENCRYPT}).encode()
    verified = verify_push(KEYS, query, body)
    assert verified.encrypted and verified.timestamp == TIMESTAMP and verified.nonce == NONCE
    event = verified.event
    assert isinstance(event, RemindAccessApi) and event.message == "请尽快接入发货信息管理服务API"
    assert event.header.to_user == "gh_2f1c9a0b7e3d" and event.header.created_at == 1700000000


@pytest.mark.parametrize("fmt", list(PushFormat))
def test_ours_encrypts_wechatpy_decrypts(fmt: PushFormat) -> None:
    message = {
        "ToUserName": "gh_x",
        "FromUserName": "o_sys",
        "CreateTime": 1700000100,
        "MsgType": "event",
        "Event": "trade_manage_order_settlement",
        "transaction_id": "4200001",
        "merchant_trade_no": "A-1",
    }
    query, body = build_push(KEYS, message, mode=PushMode.SAFE, fmt=fmt, timestamp=TIMESTAMP, nonce=NONCE)  # fmt: skip
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    outer = json.loads(body) if fmt is PushFormat.JSON else body
    plain = crypto.decrypt_message(outer, query["msg_signature"], query["timestamp"], query["nonce"])
    if fmt is PushFormat.JSON:
        assert json.loads(plain) == message
    else:
        assert "<transaction_id><![CDATA[4200001]]></transaction_id>" in plain
        assert "<CreateTime>1700000100</CreateTime>" in plain


def test_wechatpy_encrypts_ours_decrypts() -> None:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    inner = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_sys]]></FromUserName>"
             "<CreateTime>1700000200</CreateTime><MsgType><![CDATA[event]]></MsgType>"
             "<Event><![CDATA[trade_manage_remind_shipping]]></Event><transaction_id><![CDATA[4200002]]></transaction_id>"
             "<merchant_id><![CDATA[1900000109]]></merchant_id><merchant_trade_no><![CDATA[B-2]]></merchant_trade_no>"
             "<pay_time>1700000000</pay_time><msg><![CDATA[超过48小时未发货]]></msg></xml>")  # fmt: skip
    reply = crypto.encrypt_message(inner, NONCE, TIMESTAMP)
    fields = push.decode_message(reply.encode())
    encrypted, msg_signature = fields["Encrypt"], fields["MsgSignature"]
    query = {"timestamp": TIMESTAMP, "nonce": NONCE, "encrypt_type": "aes", "msg_signature": msg_signature}
    body = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    event = verify_push(KEYS, query, body.encode()).event
    assert isinstance(event, RemindShipping)
    assert (event.transaction_id, event.mch_id, event.out_trade_no) == ("4200002", "1900000109", "B-2")
    assert event.paid_at == 1700000000 and event.message == "超过48小时未发货"
    assert decrypt(KEYS.aes_key(), encrypted, APPID).decode() == inner


def test_url_check() -> None:
    query = {"signature": SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE, "echostr": "e-123"}
    assert check_url(KEYS, query) == "e-123"
    with pytest.raises(NotificationRejected) as bad:
        check_url(KEYS, {**query, "signature": SIGNATURE[:-1] + "0"})
    assert bad.value.code == "SIGNATURE_INVALID"
    with pytest.raises(NotificationRejected) as missing:
        check_url(KEYS, {**query, "echostr": ""})
    assert missing.value.code == "PUSH_MALFORMED"
    with pytest.raises(NotificationRejected):
        check_url(PushKeys("other-token", APPID), query)


def settlement_message(**extra: str | int) -> dict[str, str | int]:
    return {"ToUserName": "gh_x", "FromUserName": "o_sys", "CreateTime": 1700000300, "MsgType": "event",
            "Event": "trade_manage_order_settlement", "transaction_id": "4200003", "merchant_id": "1900000109",
            "sub_merchant_id": "", "merchant_trade_no": "C-3", "pay_time": 1700000000, "shipped_time": 1700000100,
            "estimated_settlement_time": 1700864100, **extra}  # fmt: skip


@pytest.mark.parametrize("fmt", list(PushFormat))
def test_plain_pushes_read_in_both_formats(fmt: PushFormat) -> None:
    plain_keys = PushKeys(TOKEN, APPID)
    query, body = build_push(plain_keys, settlement_message(), mode=PushMode.PLAIN, fmt=fmt, timestamp=TIMESTAMP,
                             nonce=NONCE)  # fmt: skip
    assert query == {"signature": SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE}
    verified = verify_push(plain_keys, query, body)
    event = verified.event
    assert not verified.encrypted and isinstance(event, OrderSettlement)
    assert (event.transaction_id, event.out_trade_no, event.mch_id) == ("4200003", "C-3", "1900000109")
    assert (event.paid_at, event.shipped_at, event.estimated_settlement_at) == (1700000000, 1700000100, 1700864100)
    assert event.settled is False and event.confirm_method is None and event.confirmed_at is None
    settled = verify_push(plain_keys, *build_push(
        plain_keys, settlement_message(confirm_receive_method=2, confirm_receive_time=1700500000,
                                       settlement_time=1700500000), mode=PushMode.PLAIN, fmt=fmt,
        timestamp=TIMESTAMP, nonce=NONCE)).event  # fmt: skip
    assert isinstance(settled, OrderSettlement) and settled.settled and settled.confirm_method == 2


def test_other_messages_are_read_as_other() -> None:
    keys = PushKeys(TOKEN, APPID)
    for message in ({"MsgType": "text", "Content": "hi"}, {"MsgType": "event", "Event": "subscribe_msg_popup_event"}):
        query, body = build_push(keys, message, mode=PushMode.PLAIN, fmt=PushFormat.JSON, timestamp=TIMESTAMP,
                                 nonce=NONCE)  # fmt: skip
        event = verify_push(keys, query, body).event
        assert isinstance(event, OtherPush) and event.msg_type == message["MsgType"]
    # Other events carry lists: skipped, not refused (WeChat would retry a refusal for nothing).
    query = {"signature": SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE}
    nested_json = b'{"MsgType":"event","Event":"subscribe_msg_popup_event","List":[{"TemplateId":"t"}]}'
    nested_xml = (b"<xml><MsgType>event</MsgType><Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent>"
                  b"<List><TemplateId>t</TemplateId></List></SubscribeMsgPopupEvent></xml>")  # fmt: skip
    for body in (nested_json, nested_xml):
        other = verify_push(keys, query, body).event
        assert isinstance(other, OtherPush) and other.event == "subscribe_msg_popup_event"


def rejected(keys: PushKeys, query: dict[str, str], body: bytes) -> str:
    with pytest.raises(NotificationRejected) as refused:
        verify_push(keys, query, body)
    return refused.value.code


def test_refusals() -> None:
    safe_query, safe_body = build_push(KEYS, settlement_message(), mode=PushMode.SAFE, fmt=PushFormat.JSON,
                                       timestamp=TIMESTAMP, nonce=NONCE)  # fmt: skip
    plain_keys = PushKeys(TOKEN, APPID)
    plain_query, plain_body = build_push(plain_keys, settlement_message(), mode=PushMode.PLAIN, fmt=PushFormat.XML,
                                         timestamp=TIMESTAMP, nonce=NONCE)  # fmt: skip
    assert rejected(KEYS, {**safe_query, "msg_signature": "0" * 40}, safe_body) == "SIGNATURE_INVALID"
    assert rejected(KEYS, {**safe_query, "timestamp": "1700000001"}, safe_body) == "SIGNATURE_INVALID"
    assert rejected(PushKeys("x" * 12, APPID, AES_KEY), safe_query, safe_body) == "SIGNATURE_INVALID"
    assert rejected(PushKeys(TOKEN, "wxanotherapp000000", AES_KEY), safe_query, safe_body) == "APPID_MISMATCH"
    other_key = "B" * 42 + "A"
    assert rejected(PushKeys(TOKEN, APPID, other_key), safe_query, safe_body) == "DECRYPTION_FAILED"
    assert rejected(plain_keys, safe_query, safe_body) == "DECRYPTION_FAILED"  # no key configured
    # A plaintext push once safe mode is configured: its signature covers no content.
    assert rejected(KEYS, plain_query, plain_body) == "PLAINTEXT_REFUSED"
    assert verify_push(KEYS, plain_query, plain_body, allow_plain=True).encrypted is False
    assert rejected(plain_keys, {**plain_query, "signature": "0" * 40}, plain_body) == "SIGNATURE_INVALID"
    assert rejected(plain_keys, {"signature": SIGNATURE}, plain_body) == "PUSH_MALFORMED"
    assert rejected(plain_keys, plain_query, b"<xml><a>1</a><a>2</a></xml>") == "PUSH_MALFORMED"
    assert rejected(plain_keys, plain_query, b"<xml><a>1</a>") == "PUSH_MALFORMED"
    assert rejected(plain_keys, plain_query, b"x" * 70_000) == "PUSH_MALFORMED"
    assert rejected(plain_keys, plain_query, b'<!DOCTYPE x [<!ENTITY e "e">]><xml>&e;</xml>') == "PUSH_MALFORMED"
    assert rejected(plain_keys, plain_query, b'{"a": 1, "a": 2}') == "PUSH_MALFORMED"
    no_payment = build_push(plain_keys, {"MsgType": "event", "Event": "trade_manage_order_settlement"},
                            mode=PushMode.PLAIN, fmt=PushFormat.JSON, timestamp=TIMESTAMP, nonce=NONCE)  # fmt: skip
    assert rejected(plain_keys, *no_payment) == "PUSH_MALFORMED"
    bad_time = build_push(plain_keys, settlement_message(pay_time="yesterday"), mode=PushMode.PLAIN,
                          fmt=PushFormat.JSON, timestamp=TIMESTAMP, nonce=NONCE)  # fmt: skip
    assert rejected(plain_keys, *bad_time) == "PUSH_MALFORMED"
    no_encrypt = json.dumps({"ToUserName": "gh_x"}).encode()
    assert rejected(KEYS, {**safe_query, "msg_signature": push.signature(TOKEN, TIMESTAMP, NONCE, "")},
                    no_encrypt) == "PUSH_MALFORMED"  # fmt: skip


def test_tampered_ciphertexts_do_not_decrypt() -> None:
    key = KEYS.aes_key()
    good = base64.b64decode(encrypt(key, b"hello", APPID, random16=RANDOM16))
    for bad in (b"", good[:-1], good[:-16], bytes([good[0] ^ 1]) + good[1:], good[:-1] + bytes([good[-1] ^ 1])):
        with pytest.raises(NotificationRejected):
            decrypt(key, base64.b64encode(bad).decode(), APPID)
    for text in ("not base64!", "YWJj"):
        with pytest.raises(NotificationRejected):
            decrypt(key, text, APPID)


def test_bad_padding_is_a_decryption_failure() -> None:
    """PKCS#7 to 32-byte blocks: a pad count of 0 or over 32, pad bytes that differ, or a body
    padded to AES's 16 bytes only are all refused as DECRYPTION_FAILED."""
    key = KEYS.aes_key()
    body = RANDOM16 + (5).to_bytes(4, "big") + b"hello" + APPID.encode()  # 16 + 4 + 5 + 18 = 43 bytes

    def sealed(plain: bytes) -> str:
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    assert decrypt(key, sealed(body + bytes([21]) * 21), APPID) == b"hello"  # (the right padding)
    for padded in (
        body + bytes([0]) * 21,
        body + bytes([33]) * 21,
        body + bytes([20]) + bytes([21]) * 20,
        body + bytes([5]) * 5,
    ):  # the last: 48 bytes, a multiple of 16 but not of 32
        with pytest.raises(NotificationRejected) as refused:
            decrypt(key, sealed(padded), APPID)
        assert refused.value.code == "DECRYPTION_FAILED"


def test_secrets_stay_out_of_reprs() -> None:
    shown = repr(KEYS)
    assert TOKEN not in shown and AES_KEY not in shown and APPID in shown
