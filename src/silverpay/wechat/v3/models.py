"""The v3 JSON objects silverpay reads, as strict Pydantic models (SPEC §3.4–§3.8).

Strict: a string is a string and an amount an integer (no ``"100"``, no ``true``), as WeChat sends
them. Fields silverpay does not read are ignored, since WeChat adds fields over time. A document
that does not fit is :class:`ProtocolError` with the caller's ``code``, naming the fields.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from silverpay.errors import ProtocolError

Fen = Annotated[int, Field(ge=0)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class TransactionAmount(_Model):
    total: Fen


class Payer(_Model):
    openid: str = ""


class Transaction(_Model):
    """A query answer or a ``TRANSACTION.SUCCESS`` resource."""

    out_trade_no: NonEmpty
    trade_state: NonEmpty
    appid: str = ""
    mchid: str = ""
    transaction_id: str = ""
    success_time: str = ""
    amount: TransactionAmount
    payer: Payer = Payer()


class RefundAmount(_Model):
    refund: Fen


class Refund(_Model):
    """A refund answer (``status``) or a ``REFUND.*`` resource (``refund_status``)."""

    out_refund_no: NonEmpty
    out_trade_no: str = ""
    refund_id: str = ""
    mchid: str = ""
    status: str = ""
    refund_status: str = ""
    success_time: str = ""
    amount: RefundAmount


class EncryptedResource(_Model):
    algorithm: NonEmpty
    ciphertext: NonEmpty
    nonce: NonEmpty
    # "associated_data长度小于16个字节并可能为空字符串" (SPEC §3.3): empty, and absent, mean "".
    associated_data: str = ""
    original_type: str = ""


class NotificationEnvelope(_Model):
    id: NonEmpty
    event_type: NonEmpty
    resource_type: NonEmpty
    resource: EncryptedResource
    create_time: str = ""
    summary: str = ""


class EncryptedCertificate(EncryptedResource):
    associated_data: str  # present (possibly empty) in every /v3/certificates entry


class CertificateEntry(_Model):
    serial_no: NonEmpty
    effective_time: NonEmpty
    expire_time: NonEmpty
    encrypt_certificate: EncryptedCertificate


class CertificatesBody(_Model):
    data: Annotated[list[CertificateEntry], Field(min_length=1)]


class ErrorBody(_Model):
    code: NonEmpty
    message: str = ""
    detail: dict[str, Any] | None = None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], document: object, *, code: str, what: str) -> M:
    """``document`` (already-parsed JSON) as ``model``; :class:`ProtocolError` naming what is wrong."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(top)" for e in error.errors()[:5])
        raise ProtocolError(f"{what} is malformed ({fields})", code=code) from None
