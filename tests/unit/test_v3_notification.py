"""v3 notifications: verify, then decrypt (SPEC §3.4); the merchant's reply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.errors import DecryptionError, ProtocolError, SignatureError
from silverpay.wechat.v3 import aead, keys, notification
from silverpay.wechat.v3.json_body import dumps
from silverpay.wechat.v3.signing import Failure, Signer, Verifier

API_V3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
NOW = 1_700_000_000
SERIAL = "PUB_KEY_ID_0114232134912410000000000000"
TRANSACTION: dict[str, Any] = {
    "appid": "wx8888888888888888",
    "mchid": "1900009191",
    "out_trade_no": "o-20231114-0001",
    "transaction_id": "4200001234202311140000000001",
    "trade_type": "JSAPI",
    "trade_state": "SUCCESS",
    "trade_state_desc": "支付成功",
    "success_time": "2023-11-14T22:13:20+08:00",
    "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
}


@dataclass(frozen=True)
class Platform:
    key: rsa.RSAPrivateKey
    signer: Signer
    verifier: Verifier


@pytest.fixture(scope="module")
def p() -> Platform:
    key = keys.generate_private_key()
    return Platform(key, Signer(SERIAL, key), Verifier({SERIAL: key.public_key()}))


def build(**overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "notification_id": "EV-2018022511223320873",
        "event_type": notification.EVENT_TRANSACTION_SUCCESS,
        "summary": "支付成功",
        "original_type": "transaction",
        "create_time": NOW,
        "api_v3_key": API_V3_KEY,
    }
    args |= overrides
    return notification.build_notification(TRANSACTION, **args)


def parse(
    p: Platform, body: bytes, *, headers: dict[str, str] | None = None, key: str = API_V3_KEY
) -> notification.V3Notification:
    headers = headers if headers is not None else p.signer.wechatpay_headers(body, timestamp=NOW, nonce="n0nce")
    return notification.parse_notification(headers, body, verifier=p.verifier, api_v3_key=key, now=NOW + 5)


def test_round_trip(p: Platform) -> None:
    body = build()
    envelope = json.loads(body)
    assert envelope["resource_type"] == "encrypt-resource"
    assert envelope["create_time"] == "2023-11-15T06:13:20+08:00"
    assert envelope["resource"]["associated_data"] == "transaction"
    assert "out_trade_no" not in body.decode()  # the resource travels encrypted
    result = parse(p, body)
    assert result.id == "EV-2018022511223320873"
    assert result.event_type == "TRANSACTION.SUCCESS"
    assert result.summary == "支付成功"
    assert result.original_type == "transaction"
    assert result.create_time == "2023-11-15T06:13:20+08:00"
    assert result.resource == TRANSACTION
    assert result.serial == SERIAL


def test_refund_event(p: Platform) -> None:
    body = build(event_type=notification.EVENT_REFUND_SUCCESS, original_type="refund", summary="退款成功")
    result = parse(p, body)
    assert (result.event_type, result.original_type) == ("REFUND.SUCCESS", "refund")


def test_empty_associated_data(p: Platform) -> None:
    assert parse(p, build(associated_data="")).resource == TRANSACTION


def test_signature_is_checked_before_anything_is_read(p: Platform) -> None:
    body = b"not json at all"
    headers = p.signer.wechatpay_headers(b"something else", timestamp=NOW, nonce="n0nce")
    with pytest.raises(SignatureError):  # not ProtocolError: the body was never parsed
        parse(p, body, headers=headers)


def test_tampered_envelope_is_a_signature_error(p: Platform) -> None:
    body = build()
    headers = p.signer.wechatpay_headers(body, timestamp=NOW, nonce="n0nce")
    with pytest.raises(SignatureError) as caught:
        parse(p, body.replace(b"TRANSACTION.SUCCESS", b"REFUND.SUCCESS"), headers=headers)
    assert caught.value.code == Failure.INVALID


def test_unknown_serial(p: Platform) -> None:
    body = build()
    headers = Signer("PUB_KEY_ID_OTHER", p.key).wechatpay_headers(body, timestamp=NOW, nonce="n0nce")
    with pytest.raises(SignatureError) as caught:
        parse(p, body, headers=headers)
    assert caught.value.code == Failure.UNKNOWN_SERIAL


def test_probe(p: Platform) -> None:
    body = build()
    headers = p.signer.wechatpay_headers(body, timestamp=NOW, nonce="n0nce")
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    with pytest.raises(SignatureError) as caught:
        parse(p, body, headers=headers)
    assert caught.value.code == Failure.PROBE


def test_replayed_notification_is_stale(p: Platform) -> None:
    body = build()
    headers = p.signer.wechatpay_headers(body, timestamp=NOW - 3600, nonce="n0nce")
    with pytest.raises(SignatureError) as caught:
        parse(p, body, headers=headers)
    assert caught.value.code == Failure.STALE


def test_other_merchants_key_is_a_decryption_error(p: Platform) -> None:
    with pytest.raises(DecryptionError):
        parse(p, build(), key="b" * 32)


def signed_envelope(envelope: dict[str, Any]) -> bytes:
    return dumps(envelope)


@pytest.mark.parametrize(
    "change",
    [
        {"resource_type": "plain"},
        {"resource_type": None},
        {"resource": None},
        {"resource": "x"},
        {"id": None},
        {"event_type": 7},
        {"summary": 1},
        {"resource.algorithm": "AEAD_AES_128_GCM"},
        {"resource.nonce": None},
        {"resource.ciphertext": None},
        {"resource.associated_data": 5},
    ],
)
def test_malformed_envelope_is_a_protocol_error(p: Platform, change: dict[str, Any]) -> None:
    envelope = json.loads(build())
    for path, value in change.items():
        target, name = (envelope["resource"], path[9:]) if path.startswith("resource.") else (envelope, path)
        if value is None:
            del target[name]
        else:
            target[name] = value
    with pytest.raises(ProtocolError) as caught:
        parse(p, dumps(envelope))
    assert not isinstance(caught.value, SignatureError | DecryptionError)


def test_resource_that_is_not_a_json_object(p: Platform) -> None:
    envelope = json.loads(build())
    envelope["resource"]["ciphertext"] = aead.encrypt(API_V3_KEY, envelope["resource"]["nonce"], "transaction", "[1]")
    with pytest.raises(ProtocolError):
        parse(p, dumps(envelope))


def test_oversized_body(p: Platform) -> None:
    envelope = json.loads(build())
    envelope["summary"] = "x" * 70_000
    with pytest.raises(ProtocolError):
        parse(p, dumps(envelope))


# Replies ---------------------------------------------------------------------------------------


def test_the_services_replies_read_as_wechat_reads_them() -> None:
    from silverpay.api.routes.wechat import v2_reply, v3_reply
    from silverpay.service.notifications import Ack
    from silverpay.wechat.v2 import xml

    accepted = v3_reply(Ack(True))
    assert accepted.status_code == 204 and accepted.body == b""
    assert notification.reply_accepted(accepted.status_code)
    refused = v3_reply(Ack(False, "签名错误"))
    assert refused.status_code == 400 and json.loads(refused.body) == {"code": "FAIL", "message": "签名错误"}
    assert not notification.reply_accepted(refused.status_code)
    assert v3_reply(Ack(False, "retry"), status=500).status_code == 500
    assert xml.decode(v2_reply(Ack(True)).body) == {"return_code": "SUCCESS", "return_msg": "OK"}
    assert xml.decode(v2_reply(Ack(False, "bad")).body) == {"return_code": "FAIL", "return_msg": "bad"}


@pytest.mark.parametrize(("status", "accepted"), [(200, True), (204, True), (201, False), (302, False), (500, False)])
def test_reply_accepted(status: int, accepted: bool) -> None:
    assert notification.reply_accepted(status) is accepted
