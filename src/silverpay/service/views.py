"""JSON-ready views of stored rows: the one place that decides what callers may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from silverpay.store.models import Order, OrderEvent, Product, RejectedNotification, User


class OrderFields(Protocol):
    """An order as an ORM object or a ledger row: the fields a view shows."""

    @property
    def id(self) -> int: ...
    @property
    def out_trade_no(self) -> str: ...
    @property
    def product_id(self) -> int | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def paid_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "nickname": user.nickname, "avatar_url": user.avatar_url}  # never session_key


def product_view(product: Product) -> dict[str, Any]:
    return {"id": product.id, "name": product.name, "price_fen": product.price_fen, "active": product.active,
            "auto_ship_virtual": product.auto_ship_virtual}  # fmt: skip


def order_view(order: OrderFields) -> dict[str, Any]:
    return {
        "id": order.id,
        "out_trade_no": order.out_trade_no,
        "product_id": order.product_id,
        "quantity": order.quantity,
        "amount_fen": order.amount_fen,
        "description": order.description,
        "status": order.status,
        "created_at": _iso(order.created_at),
        "expires_at": _iso(order.expires_at),
        "paid_at": _iso(order.paid_at),
        "closed_at": _iso(order.closed_at),
    }


def admin_order_view(order: Order, events: list[OrderEvent]) -> dict[str, Any]:
    return {
        **order_view(order),
        "user_id": order.user_id,
        "transaction_id": order.transaction_id,
        "prepay_expires_at": _iso(order.prepay_expires_at),
        "wechat_created_at": _iso(order.wechat_created_at),
        "needs_review": order.needs_review,
        "review_reason": order.review_reason,
        "updated_at": _iso(order.updated_at),
        "events": [
            {"id": e.id, "kind": e.kind, "at": _iso(e.created_at), "detail": e.detail} for e in events
        ],  # details were redacted when written
    }


def rejection_view(rejection: RejectedNotification) -> dict[str, Any]:
    return {
        "minute": _iso(rejection.minute),
        "endpoint": rejection.kind,
        "code": rejection.code,
        "reason": rejection.reason,
        "count": rejection.count,
        "first_at": _iso(rejection.first_at),
        "last_at": _iso(rejection.last_at),
    }
