"""The operator console's tables: accounts, browser sessions, login throttling, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from silverpay.store.models import Base, Id, UTCDateTime


class OperatorAccount(Base):
    """A person who runs the shop. The password is an argon2 hash; a disabled account cannot sign in."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    role: Mapped[str] = mapped_column(String(16))  # viewer, support, finance, owner
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class OperatorSession(Base):
    """A signed-in browser. ``id`` is the SHA-256 of the cookie's random token (a stolen table
    signs no one in); the CSRF token derives from the session token, so it is not stored."""

    __tablename__ = "operator_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str] = mapped_column(String(64), default="")


class LoginThrottle(Base):
    """Failed sign-ins counted per account (``account:<email>``, whether it exists or not) and per
    client address (``ip:<address>``); reaching the limit locks that key until ``locked_until``."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class OperatorAction(Base):
    """What operators did outside an order (users, products, reconciliation runs): who, when, from
    where. Actions on an order are events of that order instead (its timeline)."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    operator_id: Mapped[int | None] = mapped_column(Id, default=None, index=True)  # None: the machine token
    operator: Mapped[str] = mapped_column(String(254))  # email, or "admin-token"
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(40))  # e.g. operator.create, product.update
    target: Mapped[str] = mapped_column(String(64), default="")  # e.g. operator:3, product:7
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
