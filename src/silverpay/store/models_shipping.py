"""The shipping tables: each paid order's shipment at WeChat, and the mini-program's access_token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from silverpay.store.models import Base, UTCDateTime

Id = BigInteger().with_variant(Integer(), "sqlite")  # as in models.py (imported from there, mypy sees a cycle)


class Shipment(Base):
    """An order's shipping at WeChat (one row per order, made when shipping is first asked for).
    ``completed_uploads`` counts uploads WeChat took as complete shipping (1, then 2 once the one
    re-ship is used); ``reships_used`` is that re-ship, counted when it is asked for."""

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_state_next_check", "state", "next_check_at"),
        CheckConstraint("reships_used BETWEEN 0 AND 1", name="ck_shipments_reships_used"),
        CheckConstraint("completed_uploads BETWEEN 0 AND 2", name="ck_shipments_completed_uploads"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    state: Mapped[str] = mapped_column(String(24))
    logistics_type: Mapped[int] = mapped_column(Integer)
    delivery_mode: Mapped[int] = mapped_column(Integer)
    is_all_delivered: Mapped[bool | None] = mapped_column(Boolean, default=None)
    parcels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    upload_time: Mapped[datetime] = mapped_column(UTCDateTime())  # of the request being sent (orders updates)
    completed_uploads: Mapped[int] = mapped_column(Integer, default=0)
    reships_used: Mapped[int] = mapped_column(Integer, default=0)
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False)  # an upload's answer was lost
    requested_by: Mapped[str] = mapped_column(String(64), default="")  # operator name, or "auto"
    request_key: Mapped[str | None] = mapped_column(String(128), default=None)  # Idempotency-Key of the last
    request_hash: Mapped[str] = mapped_column(String(64), default="")
    wechat_state: Mapped[int | None] = mapped_column(Integer, default=None)  # get_order's order_state, last read
    error_code: Mapped[str] = mapped_column(String(64), default="")  # why BLOCKED (or the last retry)
    error_message: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WechatAccessToken(Base):
    """One access_token per appid for every process. ``value`` is a secret: never logged, never in
    an event. ``lease_until``: one process at a time fetches a new one (see service/access_token.py)."""

    __tablename__ = "wechat_access_tokens"

    appid: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024), default="")  # WeChat: keep at least 512 characters
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    fetches: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
