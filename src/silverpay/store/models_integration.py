"""The merchant integration's tables: API keys, payments made through the API, their idempotency
records, public events, webhook endpoints, deliveries and delivery attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from silverpay.store.models import Base, Id, UTCDateTime


class ApiKey(Base):
    """A merchant backend's key: ``sk_<prefix>_<secret>``; only its SHA-256 is kept, found by prefix."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class MerchantPayment(Base):
    """An order created through the payments API: the merchant's own number and metadata."""

    __tablename__ = "merchant_payments"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    merchant_order_no: Mapped[str] = mapped_column(String(64), unique=True)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON)
    request_hash: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiIdempotencyRecord(Base):
    """An ``Idempotency-Key`` of the server-to-server API: in progress (status_code 0) or its answer."""

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PublicEvent(Base):
    """An ``order_events`` row published as a public event (same id): its type and the exact body
    every delivery sends, so a resend is byte-identical."""

    __tablename__ = "public_events"
    __table_args__ = (Index("ix_public_events_type_created", "type", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=False)  # fmt: skip
    type: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class EventFeed(Base):
    """One row: the publisher's lock and cursor. Every ``order_events`` id up to ``done_until`` is
    published; ids up to ``seen_until`` were visible on the last pass (the cursor moves there on the
    next pass, so a transaction that had not committed yet is still scanned once it has)."""

    __tablename__ = "event_feed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    done_until: Mapped[int] = mapped_column(BigInteger, default=0)
    seen_until: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)  # ["*"]: every type
    description: Mapped[str] = mapped_column(String(255), default="")
    secret: Mapped[str] = mapped_column(String(80))  # needed to sign: kept, never shown after creation
    previous_secret: Mapped[str | None] = mapped_column(String(80), default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str] = mapped_column(String(255), default="")
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one endpoint: PENDING until a 2xx (DELIVERED) or three days of failures (FAILED)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_due", "status", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("public_events.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_head: Mapped[str] = mapped_column(Text, default="")  # the first 1 KB of the answer
    error: Mapped[str] = mapped_column(String(255), default="")
