"""The schema. Money columns are BIGINT fen; times are UTC with microseconds on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (portable), returns aware UTC; MySQL gets microsecond precision."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("appid", "openid", name="uq_users_appid_openid"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(128))
    nickname: Mapped[str] = mapped_column(String(64), default="")
    avatar_url: Mapped[str] = mapped_column(String(512), default="")
    session_key: Mapped[str] = mapped_column(String(64), default="")  # server-side only, never returned
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(127))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auto_ship_virtual: Mapped[bool] = mapped_column(Boolean, default=False)  # virtual goods: shipped on payment


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))  # None: made by the payments API
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(127))
    status: Mapped[str] = mapped_column(String(24))
    client_ip: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prepay_id: Mapped[str | None] = mapped_column(String(64), default=None)
    prepay_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    wechat_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # first prepay
    transaction_id: Mapped[str | None] = mapped_column(String(32), default=None)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Background work: when the worker should next look at this order, and who holds it now.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class PaymentAttempt(Base):
    """Every out_trade_no an order used at WeChat. The order's own out_trade_no is the current (or
    paying) one; an older one may still be paid from a payment sheet opened before, so it still leads
    to its order, and it is closed at WeChat once WeChat allows (``close_at``) by the worker."""

    __tablename__ = "payment_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    close_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    out_trade_no: Mapped[str] = mapped_column(String(32))  # the payment refunded (an order may have had two)
    # A payment the order did not need (a second paid attempt, a payment after cancelling), returned
    # whole by silverpay itself; it is not part of the order's refundable amount.
    surplus: Mapped[bool] = mapped_column(Boolean, default=False)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(80), default="")
    status: Mapped[str] = mapped_column(String(16))
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)  # WeChat acknowledged the request
    refund_id: Mapped[str | None] = mapped_column(String(32), default=None)
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)  # Idempotency-Key
    request_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Reconciliation(Base):
    __tablename__ = "reconciliations"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    bill_date: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(16))  # RUNNING, CLEAN, DISCREPANCIES, FAILED
    bill_rows: Mapped[int] = mapped_column(Integer, default=0)
    discrepancies: Mapped[int] = mapped_column(Integer, default=0)
    unresolved: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ReconciliationItem(Base):
    __tablename__ = "reconciliation_items"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    reconciliation_id: Mapped[int] = mapped_column(ForeignKey("reconciliations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    out_trade_no: Mapped[str] = mapped_column(String(64), default="")
    out_refund_no: Mapped[str] = mapped_column(String(64), default="")
    wechat_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    local_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    detail: Mapped[str] = mapped_column(String(255), default="")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class OrderEvent(Base):
    """Every transition and every WeChat exchange, written in the transaction of the change."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True, default=None)
    out_trade_no: Mapped[str] = mapped_column(String(64), default="", index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationDelivery(Base):
    """v3 deliveries already accepted (notification id + signing nonce): a replay is refused."""

    __tablename__ = "notification_deliveries"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RejectedNotification(Base):
    """Notifications that were not genuinely ours, counted per minute, endpoint, reason and the
    order number they claim (kept only when it is one of ours: a flood of made-up numbers is one row
    a minute), so a flood cannot grow the table without bound."""

    __tablename__ = "rejected_notifications"
    __table_args__ = (UniqueConstraint("minute", "kind", "code", "claimed", name="uq_rejected_notifications"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # the endpoint: wechat.notify, wechat.refund_notify
    code: Mapped[str] = mapped_column(String(64))
    claimed: Mapped[str] = mapped_column(String(64), default="", index=True)
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    reason: Mapped[str] = mapped_column(String(255), default="")  # the first one's, as a sample
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The tables of later features, each in its own module, registered on Base when this one is imported.
from silverpay.store import (  # noqa: E402
    models_console,  # noqa: F401
    models_heartbeat,  # noqa: F401
    models_integration,  # noqa: F401
    models_shipping,  # noqa: F401
)
