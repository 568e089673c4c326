"""The mini-program message push (消息推送) as its receiver checks it, and as the simulator makes it.

WeChat calls the push URL configured in the mini-program's console with its Token, its
EncodingAESKey and a mode and format (SHIPPING.md §1.6):

- ``GET ?signature&timestamp&nonce&echostr``: the URL check. ``signature`` is the SHA-1 hex of the
  Token, timestamp and nonce sorted as strings and concatenated; the answer is ``echostr`` as is.
- ``POST`` in plain mode (明文模式): the same ``signature`` in the query, the message in the body as
  JSON or XML. That signature does not cover the body: a plain push proves nothing about its content,
  which is why silverpay acts on a push only after ``get_order`` says the same.
- ``POST`` in safe mode (安全模式, and compatible mode, which adds the plain fields): ``encrypt_type=aes``
  and ``msg_signature`` = SHA-1 of the sorted Token, timestamp, nonce and the body's ``Encrypt``.
  ``Encrypt`` is base64 of AES-256-CBC with key = base64-decode(EncodingAESKey + "="), IV = the
  key's first 16 bytes, over 16 random bytes + the message's length (4 bytes, big-endian) + the
  message + the appid, padded PKCS#7-style to a multiple of 32 bytes. The appid must be ours.

Events read here: ``trade_manage_order_settlement`` (an order finished shipping, and again when it
settles), ``trade_manage_remind_shipping`` (paid 48 h ago, not shipped), ``trade_manage_remind_access_api``;
anything else is an :class:`OtherPush`. Every comparison of secrets is constant-time. Refusals are
:class:`NotificationRejected` with a code saying why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from silverpay.errors import ConfigError, NotificationRejected, ProtocolError, XmlError
from silverpay.wechat.v2 import xml
from silverpay.wechat.v3.json_body import dumps, loads_object

EVENT_ORDER_SETTLEMENT = "trade_manage_order_settlement"
EVENT_REMIND_SHIPPING = "trade_manage_remind_shipping"
EVENT_REMIND_ACCESS_API = "trade_manage_remind_access_api"
BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
AES_KEY_CHARS = 43

SIGNATURE_INVALID = "SIGNATURE_INVALID"
DECRYPTION_FAILED = "DECRYPTION_FAILED"
APPID_MISMATCH = "APPID_MISMATCH"
PLAINTEXT_REFUSED = "PLAINTEXT_REFUSED"
PUSH_MALFORMED = "PUSH_MALFORMED"


class PushMode(StrEnum):
    PLAIN = "plain"  # 明文模式
    SAFE = "safe"  # 安全模式 (compatible mode reads the same way: its Encrypt is authoritative)


class PushFormat(StrEnum):
    JSON = "json"
    XML = "xml"


@dataclass(frozen=True)
class PushKeys:
    """The console's message-push settings: Token, EncodingAESKey (43 characters; empty in plain
    mode) and the mini-program's appid."""

    token: str = field(repr=False)
    appid: str
    encoding_aes_key: str = field(default="", repr=False)

    def aes_key(self) -> bytes:
        return aes_key(self.encoding_aes_key)


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey stands for; :class:`ConfigError` if it is not one."""
    if len(encoding_aes_key) != AES_KEY_CHARS:
        raise ConfigError(f"an EncodingAESKey has {AES_KEY_CHARS} characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("the EncodingAESKey is not base64") from None
    if len(key) != BLOCK:
        raise ConfigError("the EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, *parts: str) -> str:
    """SHA-1 hex of the token and the parts, sorted as strings and concatenated."""
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324 (WeChat's algorithm)


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def check_url(keys: PushKeys, query: Mapping[str, str]) -> str:
    """The GET URL check: ``echostr`` to answer, or :class:`NotificationRejected`."""
    timestamp, nonce, echostr = query.get("timestamp", ""), query.get("nonce", ""), query.get("echostr", "")
    if not timestamp or not nonce or not echostr:
        raise NotificationRejected("URL check without timestamp, nonce or echostr", code=PUSH_MALFORMED)
    if not _same(signature(keys.token, timestamp, nonce), query.get("signature", "")):
        raise NotificationRejected("URL check signature does not verify", code=SIGNATURE_INVALID)
    return echostr


# The cipher -----------------------------------------------------------------------------------


def _pad(data: bytes) -> bytes:
    padder = PKCS7(BLOCK * 8).padder()  # 1..32 bytes: a full block when already aligned
    return padder.update(data) + padder.finalize()


def _unpad(data: bytes) -> bytes:
    """``data`` without its padding; ValueError unless it is PKCS#7 to 32-byte blocks."""
    unpadder = PKCS7(BLOCK * 8).unpadder()
    return unpadder.update(data) + unpadder.finalize()


def encrypt(key: bytes, message: bytes, appid: str, *, random16: bytes | None = None) -> str:
    """``Encrypt`` for ``message``: base64(AES-256-CBC(random16 + len + message + appid, padded))."""
    prefix = os.urandom(16) if random16 is None else random16
    if len(prefix) != 16 or len(key) != BLOCK:
        raise ValueError("random16 must be 16 bytes and the key 32")
    plain = _pad(prefix + len(message).to_bytes(4, "big") + message + appid.encode())
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(key: bytes, encrypted: str, appid: str) -> bytes:
    """The message inside ``Encrypt``; :class:`NotificationRejected` unless it decrypts, its padding
    and length hold, and it ends with ``appid``."""
    failed = NotificationRejected("Encrypt does not decrypt with our EncodingAESKey", code=DECRYPTION_FAILED)
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise failed from None
    if not data or len(data) % 16:
        raise failed
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    try:
        unpadded = _unpad(decryptor.update(data) + decryptor.finalize())
    except ValueError:  # a pad count of 0 or over 32, pad bytes that differ, not a whole number of blocks
        raise failed from None
    if len(unpadded) < 20:  # the random 16 bytes and the length
        raise failed
    content = unpadded[16:]
    length = int.from_bytes(content[:4], "big")
    if length > len(content) - 4:
        raise failed
    if not hmac.compare_digest(content[4 + length :], appid.encode()):
        raise NotificationRejected("the push is encrypted for another appid", code=APPID_MISMATCH)
    return content[4 : 4 + length]


# Messages -------------------------------------------------------------------------------------


def encode_message(fields: Mapping[str, str | int], fmt: PushFormat) -> bytes:
    """A flat message as WeChat sends it: JSON (numbers bare) or ``<xml>`` (strings in CDATA)."""
    if fmt is PushFormat.JSON:
        return dumps(dict(fields))
    return xml.encode(fields).encode()


def decode_message(body: bytes) -> dict[str, str]:
    """A message's top-level scalar fields as text, from JSON or XML (whichever it is);
    :class:`NotificationRejected` if it is neither. Nested fields (other events have lists) are
    skipped: none of the events read here has any."""
    start = body.lstrip()[:1]
    try:
        if start == b"{":
            document = loads_object(body, what="push")
            return {k: _json_text(v) for k, v in document.items() if not isinstance(v, dict | list)}
        return _xml_fields(body)
    except (ProtocolError, XmlError) as error:
        raise NotificationRejected(f"unreadable push: {error.message}", code=PUSH_MALFORMED) from None


def _xml_fields(body: bytes) -> dict[str, str]:
    """``<xml>``'s leaf children. Parsed as the v2 decoder parses (size cap, no DOCTYPE, no
    entities), but elements with children are skipped rather than refused."""
    if len(body) > xml.MAX_BODY_BYTES:
        raise XmlError(f"body larger than {xml.MAX_BODY_BYTES} bytes")
    try:
        root = defusedxml.ElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (defusedxml.DefusedXmlException, ParseError, ValueError):
        raise XmlError("unsafe or malformed XML") from None
    fields: dict[str, str] = {}
    for child in root:
        if len(child):
            continue
        if child.tag in fields:
            raise XmlError(f"element <{child.tag}> appears twice")
        fields[child.tag] = child.text or ""
    return fields


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class PushHeader:
    """The fields every push has: the mini-program's original id, the sender, the time."""

    to_user: str  # ToUserName: the mini-program's original id (gh_…)
    from_user: str  # FromUserName: WeChat's own openid for system events
    created_at: float | None  # CreateTime, epoch seconds: with from_user, what WeChat says to de-duplicate by


@dataclass(frozen=True)
class OrderSettlement:
    """``trade_manage_order_settlement``: sent when an order finishes shipping (settlement fields
    empty) and again when it settles. A hint only: read ``get_order`` before acting on it."""

    header: PushHeader
    transaction_id: str
    mch_id: str
    sub_mch_id: str
    out_trade_no: str
    paid_at: float | None
    shipped_at: float | None
    estimated_settlement_at: float | None
    confirm_method: int | None  # 1 auto, 2 manual per the doc; integrators report them swapped
    confirmed_at: float | None
    settled_at: float | None

    @property
    def settled(self) -> bool:
        return self.settled_at is not None


@dataclass(frozen=True)
class RemindShipping:
    """``trade_manage_remind_shipping``: a paid order went 48 h without shipping info."""

    header: PushHeader
    transaction_id: str
    mch_id: str
    sub_mch_id: str
    out_trade_no: str
    paid_at: float | None
    message: str


@dataclass(frozen=True)
class RemindAccessApi:
    """``trade_manage_remind_access_api``: WeChat asks the mini-program to use the shipping API."""

    header: PushHeader
    message: str


@dataclass(frozen=True)
class OtherPush:
    """Any other message or event: acknowledged, not acted on."""

    header: PushHeader
    msg_type: str
    event: str


PushEvent = OrderSettlement | RemindShipping | RemindAccessApi | OtherPush


@dataclass(frozen=True)
class VerifiedPush:
    event: PushEvent
    timestamp: str  # the signed query values, for a replay window if the caller keeps one
    nonce: str
    encrypted: bool


def _time(fields: Mapping[str, str], name: str) -> float | None:
    value = fields.get(name, "").strip()
    if not value or value == "0":
        return None
    if not value.isdigit():
        raise NotificationRejected(f"push field {name} is not a timestamp", code=PUSH_MALFORMED)
    return float(value)


def _method(fields: Mapping[str, str]) -> int | None:
    value = fields.get("confirm_receive_method", "").strip()
    return int(value) if value.isdigit() and value != "0" else None


def read_event(fields: Mapping[str, str]) -> PushEvent:
    header = PushHeader(fields.get("ToUserName", ""), fields.get("FromUserName", ""), _time(fields, "CreateTime"))
    msg_type, event = fields.get("MsgType", ""), fields.get("Event", "")
    if msg_type != "event" or event not in (EVENT_ORDER_SETTLEMENT, EVENT_REMIND_SHIPPING, EVENT_REMIND_ACCESS_API):
        return OtherPush(header, msg_type, event)
    if event == EVENT_REMIND_ACCESS_API:
        return RemindAccessApi(header, fields.get("msg", ""))
    transaction_id, out_trade_no = fields.get("transaction_id", ""), fields.get("merchant_trade_no", "")
    if not transaction_id and not out_trade_no:
        raise NotificationRejected(f"{event} names no payment", code=PUSH_MALFORMED)
    mch_id, sub_mch_id = fields.get("merchant_id", ""), fields.get("sub_merchant_id", "")
    if event == EVENT_REMIND_SHIPPING:
        return RemindShipping(header, transaction_id, mch_id, sub_mch_id, out_trade_no, _time(fields, "pay_time"),
                              fields.get("msg", ""))  # fmt: skip
    return OrderSettlement(
        header=header, transaction_id=transaction_id, mch_id=mch_id, sub_mch_id=sub_mch_id, out_trade_no=out_trade_no,
        paid_at=_time(fields, "pay_time"), shipped_at=_time(fields, "shipped_time"),
        estimated_settlement_at=_time(fields, "estimated_settlement_time"), confirm_method=_method(fields),
        confirmed_at=_time(fields, "confirm_receive_time"), settled_at=_time(fields, "settlement_time"),
    )  # fmt: skip


def verify_push(
    keys: PushKeys, query: Mapping[str, str], body: bytes, *, allow_plain: bool | None = None
) -> VerifiedPush:
    """Check a POSTed push and read it. ``allow_plain`` defaults to "only when no EncodingAESKey is
    configured": once safe mode is set up, a plaintext push (whose signature covers no content)
    is refused rather than trusted."""
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not timestamp or not nonce:
        raise NotificationRejected("push without timestamp or nonce", code=PUSH_MALFORMED)
    if query.get("encrypt_type", "") == "aes":
        outer = decode_message(body)
        encrypted = outer.get("Encrypt", "")
        if not encrypted:
            raise NotificationRejected("safe-mode push without Encrypt", code=PUSH_MALFORMED)
        if not keys.encoding_aes_key:
            raise NotificationRejected("encrypted push, but no EncodingAESKey is configured", code=DECRYPTION_FAILED)
        if not _same(signature(keys.token, timestamp, nonce, encrypted), query.get("msg_signature", "")):
            raise NotificationRejected("msg_signature does not verify", code=SIGNATURE_INVALID)
        message = decrypt(keys.aes_key(), encrypted, keys.appid)
        return VerifiedPush(read_event(decode_message(message)), timestamp, nonce, encrypted=True)
    if not _same(signature(keys.token, timestamp, nonce), query.get("signature", "")):
        raise NotificationRejected("signature does not verify", code=SIGNATURE_INVALID)
    if not (allow_plain if allow_plain is not None else not keys.encoding_aes_key):
        raise NotificationRejected("plaintext push refused: safe mode is configured", code=PLAINTEXT_REFUSED)
    return VerifiedPush(read_event(decode_message(body)), timestamp, nonce, encrypted=False)


def build_push(
    keys: PushKeys,
    message: Mapping[str, str | int],
    *,
    mode: PushMode,
    fmt: PushFormat,
    timestamp: str,
    nonce: str,
    random16: bytes | None = None,
) -> tuple[dict[str, str], bytes]:
    """What WeChat POSTs for ``message``: the query parameters and the body (the simulator's side)."""
    query = {"signature": signature(keys.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    plain = encode_message(message, fmt)
    if mode is PushMode.PLAIN:
        return query, plain
    encrypted = encrypt(keys.aes_key(), plain, keys.appid, random16=random16)
    outer = {"ToUserName": str(message.get("ToUserName", "")), "Encrypt": encrypted}
    query |= {"encrypt_type": "aes", "msg_signature": signature(keys.token, timestamp, nonce, encrypted)}
    return query, encode_message(outer, fmt)
