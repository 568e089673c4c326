"""The order state machine.

    CREATED ──prepay──► PAYING ──settle──► PAID ──refund──► PARTIALLY_REFUNDED ──refund──► REFUNDED
       │                  │                  └─────────────refund (all of it)────────────────┘
       └──────close───────┴──────────────► CLOSED

Once paid (PAID and the refunded states) or CLOSED, no payment query or notification changes an
order's status again; only refunds move a paid order along. A payment WeChat reports for a
CLOSED order, or a second payment for a paid one, is refunded whole (a surplus refund); one with
an amount that differs is not applied: the order is flagged for an operator (``needs_review``).
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


class Action(StrEnum):
    SETTLE = "settled"  # the order becomes PAID
    CLOSE = "closed"  # the order becomes CLOSED
    REFUND_SURPLUS = "refunded"  # genuinely paid, but the order did not need it: returned whole, automatically
    FLAG = "flagged"  # not applied: an operator must look (needs_review)
    DUPLICATE = "duplicate"  # already what WeChat says: nothing to do
    PENDING = "pending"  # nothing final at WeChat yet


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""  # why, for a FLAG or a REFUND_SURPLUS


def decide(
    status: OrderStatus, amount_fen: int, transaction_id: str | None, state: WechatTradeState, paid_fen: int,
    paid_transaction_id: str, *, other_attempt: bool = False,
) -> Decision:  # fmt: skip
    """What WeChat's view of a trade (``state``, the amount and transaction it reports) does to an
    order in ``status``: the one rule for notifications, queries, confirms and the sweeper.
    ``other_attempt``: the trade is one of the order's numbers, but not the one it is paid (or
    payable) under.

    A payment the order cannot take — another attempt's, or one made after the order was closed (a
    cancelled order whose payment sheet was still open) — is refunded, not kept; a payment of
    another amount, or a second transaction under the very number that paid, is for an operator."""
    verdict = verdict_for(state)
    if verdict is Verdict.PAID:
        if paid_fen != amount_fen:
            return Decision(Action.FLAG, f"amount mismatch: WeChat reports {paid_fen} fen, order is {amount_fen}")
        if status.paid:
            if other_attempt:
                return Decision(Action.REFUND_SURPLUS, f"second payment {paid_transaction_id} for a paid order")
            if paid_transaction_id and transaction_id and paid_transaction_id != transaction_id:
                return Decision(Action.FLAG, f"second transaction {paid_transaction_id} for a paid order")
            return Decision(Action.DUPLICATE)
        if status is OrderStatus.CLOSED:
            return Decision(Action.REFUND_SURPLUS, "paid at WeChat after the order was closed here")
        return Decision(Action.SETTLE)
    if verdict is Verdict.CLOSED:
        if status in OPEN:
            return Decision(Action.CLOSE)
        if status.paid:
            return Decision(Action.FLAG, f"WeChat reports {state.value} for an order paid here")
        return Decision(Action.DUPLICATE)
    return Decision(Action.PENDING)
