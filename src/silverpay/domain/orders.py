"""The order state machine.

    CREATED ──prepay──► PAYING ──settle──► PAID ──refund──► PARTIALLY_REFUNDED ──refund──► REFUNDED
       │                  │                  └─────────────refund (all of it)────────────────┘
       └──────close───────┴──────────────► CLOSED

Once paid (PAID and the refunded states) or CLOSED, no payment query or notification changes an
order's status again; only refunds move a paid order along. A payment
that WeChat reports for a CLOSED order, or with an amount that differs, is not applied: the
order is flagged for an operator (``needs_review``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    PAYING = "PAYING"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CLOSED = "CLOSED"

    @property
    def terminal(self) -> bool:
        """Settled as far as payment goes: paid (refunded or not) or closed."""
        return self not in OPEN

    @property
    def paid(self) -> bool:
        return self in PAID_FAMILY


OPEN = (OrderStatus.CREATED, OrderStatus.PAYING)
PAID_FAMILY = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)

# The states each target may be entered from: used as the guard of the UPDATE that moves an order.
ALLOWED_FROM: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    OrderStatus.PAYING: OPEN,  # PAYING → PAYING renews the prepay
    OrderStatus.PAID: OPEN,
    OrderStatus.CLOSED: OPEN,
    OrderStatus.PARTIALLY_REFUNDED: REFUNDABLE,
    OrderStatus.REFUNDED: REFUNDABLE,
}


class WechatTradeState(StrEnum):
    """WeChat's ``trade_state`` (SPEC §2.5), the neutral name for both API versions."""

    NOTPAY = "NOTPAY"
    USERPAYING = "USERPAYING"
    ACCEPT = "ACCEPT"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    PAYERROR = "PAYERROR"


class Verdict(StrEnum):
    PAID = "PAID"  # settle as paid (after the amount check)
    CLOSED = "CLOSED"  # WeChat closed it: close here too
    PENDING = "PENDING"  # nothing final yet: leave the order as it is


def verdict_for(state: WechatTradeState) -> Verdict:
    if state in (WechatTradeState.SUCCESS, WechatTradeState.REFUND):
        return Verdict.PAID  # REFUND means it was paid first
    if state in (WechatTradeState.CLOSED, WechatTradeState.REVOKED):
        return Verdict.CLOSED
    return Verdict.PENDING  # NOTPAY, USERPAYING, ACCEPT; PAYERROR lets the user try again


@dataclass(frozen=True)
class PaymentCheck:
    """Whether a payment WeChat reports may settle an order, and if not, why."""

    ok: bool
    reason: str = ""


def check_payment(order_amount_fen: int, status: OrderStatus, paid_amount_fen: int) -> PaymentCheck:
    if paid_amount_fen != order_amount_fen:
        return PaymentCheck(
            False, f"amount mismatch: WeChat reports {paid_amount_fen} fen, order is {order_amount_fen}"
        )
    if status is OrderStatus.CLOSED:
        return PaymentCheck(False, "paid at WeChat after the order was closed here")
    return PaymentCheck(True)
