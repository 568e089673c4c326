"""v3 notifications (SPEC §3.4): verify the raw body's signature, then decrypt the resource.

::

    {"id": "EV-2018022511223320873", "create_time": "2015-05-20T13:29:35+08:00",
     "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
     "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                  "ciphertext": "…", "associated_data": "…", "nonce": "…"}}

Nothing in the body is read before its signature holds: the envelope is unauthenticated until then.
The reply is an HTTP status: 200/204 stops WeChat's retries, 4xx/5xx with a FAIL body asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from silverpay.beijing import format_rfc3339
from silverpay.errors import ProtocolError
from silverpay.wechat.v3 import aead
from silverpay.wechat.v3.json_body import dumps, loads_object
from silverpay.wechat.v3.models import NotificationEnvelope, parse
from silverpay.wechat.v3.signing import Verifier

RESOURCE_TYPE = "encrypt-resource"
EVENT_TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS"
EVENT_REFUND_SUCCESS = "REFUND.SUCCESS"
EVENT_REFUND_ABNORMAL = "REFUND.ABNORMAL"
EVENT_REFUND_CLOSED = "REFUND.CLOSED"


@dataclass(frozen=True)
class V3Notification:
    """A notification whose signature held and whose resource decrypted."""

    id: str
    event_type: str
    create_time: str  # RFC 3339, as sent
    summary: str
    original_type: str  # "transaction" or "refund"
    resource: dict[str, Any]  # the decrypted JSON object
    serial: str  # the platform key that signed it, for the record


def parse_notification(
    headers: Mapping[str, str],
    body: bytes,
    *,
    verifier: Verifier,
    api_v3_key: str | bytes,
    now: float,
) -> V3Notification:
    """Verify, then decode and decrypt one notification.

    Raises :class:`SignatureError` (its ``code`` says which check failed; an unknown serial is
    ``SIGNATURE_UNKNOWN_SERIAL``), then :class:`ProtocolError` for a malformed envelope or
    resource, :class:`DecryptionError` for a resource not encrypted with this APIv3 key.
    """
    signed = verifier.verify_response(headers, body, now=now)
    envelope = parse(NotificationEnvelope, loads_object(body, what="notification"), code="NOTIFICATION_INVALID",
                     what="notification")  # fmt: skip
    if envelope.resource_type != RESOURCE_TYPE:
        raise ProtocolError(f"notification resource_type is {envelope.resource_type!r}", code="NOTIFICATION_INVALID")
    encrypted = envelope.resource
    if encrypted.algorithm != aead.ALGORITHM:
        raise ProtocolError(f"notification resource uses {encrypted.algorithm!r}", code="NOTIFICATION_INVALID")
    plaintext = aead.decrypt_text(api_v3_key, encrypted.nonce, encrypted.associated_data, encrypted.ciphertext)
    return V3Notification(
        id=envelope.id,
        event_type=envelope.event_type,
        create_time=envelope.create_time,
        summary=envelope.summary,
        original_type=encrypted.original_type,
        resource=loads_object(plaintext, what="notification resource"),
        serial=signed.serial,
    )


def build_notification(
    resource: Mapping[str, Any],
    *,
    notification_id: str,
    event_type: str,
    summary: str,
    original_type: str,
    create_time: float,
    api_v3_key: str | bytes,
    nonce: str | None = None,
    associated_data: str | None = None,
) -> bytes:
    """The simulator's notification body (sign it with :meth:`Signer.wechatpay_headers`).

    ``associated_data`` defaults to ``original_type`` ("transaction", "refund"), as WeChat sends.
    """
    aad = original_type if associated_data is None else associated_data
    resource_nonce = aead.new_nonce() if nonce is None else nonce
    return dumps(
        {
            "id": notification_id,
            "create_time": format_rfc3339(create_time),
            "resource_type": RESOURCE_TYPE,
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": aead.ALGORITHM,
                "ciphertext": aead.encrypt(api_v3_key, resource_nonce, aad, dumps(dict(resource))),
                "associated_data": aad,
                "nonce": resource_nonce,
            },
        }
    )


def reply_accepted(status_code: int) -> bool:
    """The simulator's reading of a merchant's reply: HTTP 200 or 204 stops retries (SPEC §3.4)."""
    return status_code in (200, 204)
