"""Refund arithmetic: what may be refunded, and what an order's status becomes."""

from __future__ import annotations

from enum import StrEnum

from silverpay.domain.orders import OrderStatus
from silverpay.errors import Conflict, InvalidRequest

MAX_REFUNDS_PER_ORDER = 50  # WeChat's limit (SPEC §2.7)


class RefundStatus(StrEnum):
    PROCESSING = "PROCESSING"  # asked for, outcome not known yet: its amount stays reserved
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"  # failed: the amount is released
    ABNORMAL = "ABNORMAL"  # WeChat could not pay it out; an operator must act: the amount stays reserved

    @property
    def final(self) -> bool:
        return self in (RefundStatus.SUCCESS, RefundStatus.CLOSED)


def check_refund(paid_fen: int, reserved_fen: int, refund_count: int, amount_fen: int) -> None:
    """Raise unless ``amount_fen`` more may be refunded. ``reserved_fen`` sums every refund not CLOSED."""
    if amount_fen <= 0:
        raise InvalidRequest("amount_fen must be a positive number of fen")
    if refund_count >= MAX_REFUNDS_PER_ORDER:
        raise Conflict(f"an order can have at most {MAX_REFUNDS_PER_ORDER} refunds", code="TOO_MANY_REFUNDS")
    if reserved_fen + amount_fen > paid_fen:
        left = paid_fen - reserved_fen
        raise Conflict(f"only {left} fen of {paid_fen} remain refundable", code="REFUND_EXCEEDS_PAID")


def status_after_refunds(paid_fen: int, refunded_fen: int) -> OrderStatus:
    """The order's status given the sum of SUCCESSFUL refunds."""
    if refunded_fen <= 0:
        return OrderStatus.PAID
    return OrderStatus.REFUNDED if refunded_fen >= paid_fen else OrderStatus.PARTIALLY_REFUNDED
