"""The shipment state machine of a paid order (WeChat's shipping-info management, SHIPPING.md §1).

    NOT_SHIPPED ──request──► SHIPPING_SUBMITTED ──upload accepted──► SHIPPED ──buyer confirms──► RECEIVED
         ▲                        │     ▲                               │                           │
         │                        │     └──────── one change ───────────┘                     settles│
         └── get_order: nothing ──┤                                                                  ▼
                                  └──refused──► BLOCKED (an operator looks; a new request leaves it)  SETTLED

WeChat gives each payment ONE re-ship after the first completed upload ("每笔支付单仅有一次重新发货机会"):
:func:`check_request` counts it, asks the operator to confirm before the last one is used, and
refuses a change once it is gone. :func:`from_wechat` turns ``get_order``'s ``order_state`` into
the state WeChat's record makes it: pushes and timeouts never move a shipment on their own.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from silverpay.errors import Conflict

MAX_RESHIPS = 1  # WeChat's rule: one re-ship per payment


class ShipmentState(StrEnum):
    NOT_SHIPPED = "NOT_SHIPPED"
    SHIPPING_SUBMITTED = "SHIPPING_SUBMITTED"  # asked for; the worker uploads it (outcome may be unknown)
    SHIPPED = "SHIPPED"  # WeChat has the shipping info, complete
    RECEIVED = "RECEIVED"  # the buyer (or WeChat's timer) confirmed receipt
    SETTLED = "SETTLED"  # WeChat released the funds
    BLOCKED = "BLOCKED"  # WeChat refused, or the payment stays unknown: an operator decides

    @property
    def final(self) -> bool:
        return self is ShipmentState.SETTLED


S = ShipmentState
# The states each target may be entered from: the guard of the UPDATE that moves a shipment.
ALLOWED_FROM: dict[ShipmentState, frozenset[ShipmentState]] = {
    S.NOT_SHIPPED: frozenset({S.SHIPPING_SUBMITTED, S.BLOCKED}),  # get_order: nothing landed
    S.SHIPPING_SUBMITTED: frozenset({S.NOT_SHIPPED, S.SHIPPED, S.BLOCKED}),
    S.SHIPPED: frozenset({S.NOT_SHIPPED, S.SHIPPING_SUBMITTED, S.BLOCKED}),
    S.RECEIVED: frozenset({S.NOT_SHIPPED, S.SHIPPING_SUBMITTED, S.SHIPPED, S.BLOCKED}),
    S.SETTLED: frozenset({S.NOT_SHIPPED, S.SHIPPING_SUBMITTED, S.SHIPPED, S.RECEIVED, S.BLOCKED}),
    S.BLOCKED: frozenset({S.NOT_SHIPPED, S.SHIPPING_SUBMITTED, S.SHIPPED}),
}


def can_move(current: ShipmentState, to: ShipmentState) -> bool:
    return current in ALLOWED_FROM[to]


@dataclass(frozen=True)
class RequestCheck:
    """What a new shipping request will do: ``reship`` when it uses the payment's one change."""

    reship: bool
    reships_left_after: int


def check_request(
    state: ShipmentState, *, completed_uploads: int, reships_used: int, use_last_reship: bool
) -> RequestCheck:
    """May an operator (or auto-ship) ask for this shipment now? :class:`Conflict` (409) with a
    precise code when not. Any request after a completed upload is a change (WeChat counts it as
    the re-ship even when only the tracking number differs), so it needs ``use_last_reship``."""
    if state is S.SHIPPING_SUBMITTED:
        raise Conflict("a shipping upload for this order is still in progress", code="SHIPMENT_IN_PROGRESS")
    if state in (S.RECEIVED, S.SETTLED):
        raise Conflict(f"the buyer has confirmed receipt ({state}): shipping can no longer change",
                       code="SHIPMENT_FINISHED")  # fmt: skip
    if completed_uploads == 0:
        return RequestCheck(reship=False, reships_left_after=MAX_RESHIPS - reships_used)
    if reships_used >= MAX_RESHIPS:
        raise Conflict("this payment's one shipping change (re-ship) is used: WeChat refuses another; change it by "
                       "hand in the mini-program console if you must", code="SHIPMENT_RESHIP_USED")  # fmt: skip
    if not use_last_reship:
        raise Conflict("this change uses the payment's last re-ship (WeChat allows one): send it again with "
                       '"use_last_reship": true to go ahead', code="SHIPMENT_LAST_RESHIP")  # fmt: skip
    return RequestCheck(reship=True, reships_left_after=MAX_RESHIPS - reships_used - 1)


# WeChat's order_state (get_order): 1 awaiting shipment, 2 shipped, 3 receipt confirmed, 4 complete
# (settled), 5 refunded, 6 awaiting settlement.
WECHAT_AWAITING, WECHAT_SHIPPED, WECHAT_CONFIRMED, WECHAT_COMPLETE, WECHAT_REFUNDED, WECHAT_SETTLING = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class WechatView:
    """What ``get_order`` says about one payment's shipping."""

    order_state: int
    finished: bool  # everything shipped
    finish_count: int  # completed uploads: 2 once the re-ship is used


def from_wechat(current: ShipmentState, view: WechatView) -> ShipmentState | None:
    """The state WeChat's record makes the shipment; None: leave it (nothing to learn, or a state
    WeChat cannot take back — e.g. a refunded payment stays where it was, for an operator)."""
    state = view.order_state
    if state == WECHAT_AWAITING or (state == WECHAT_SHIPPED and not view.finished):
        # Nothing (complete) landed: an upload in progress stays in progress, the worker re-sends it.
        return None if current in (S.SHIPPING_SUBMITTED, S.NOT_SHIPPED, S.BLOCKED) else S.NOT_SHIPPED
    if state == WECHAT_SHIPPED:
        target = S.SHIPPED
    elif state in (WECHAT_CONFIRMED, WECHAT_SETTLING):
        target = S.RECEIVED
    elif state == WECHAT_COMPLETE:
        target = S.SETTLED
    else:
        return None
    if target is current or not can_move(current, target):
        return None
    if current is S.SHIPPING_SUBMITTED and target is S.SHIPPED:
        return None  # a change still to send: the worker decides with upload_landed
    return target


def upload_landed(view: WechatView, *, completed_before: int) -> bool:
    """Did an upload whose answer was lost land? Yes when WeChat counts more completed uploads than
    there were before it (or the payment has moved past shipping)."""
    if view.order_state in (WECHAT_CONFIRMED, WECHAT_COMPLETE, WECHAT_SETTLING):
        return True
    return view.finished and view.finish_count > completed_before
