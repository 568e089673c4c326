"""The shipment state machine and WeChat's one-re-ship rule (domain/shipping.py)."""

from __future__ import annotations

import pytest

from silverpay.domain.shipping import (
    ALLOWED_FROM,
    ShipmentState,
    WechatView,
    can_move,
    check_request,
    from_wechat,
    upload_landed,
)
from silverpay.errors import Conflict

S = ShipmentState


def test_first_request_is_free_and_leaves_the_one_reship() -> None:
    check = check_request(S.NOT_SHIPPED, completed_uploads=0, reships_used=0, use_last_reship=False)
    assert not check.reship and check.reships_left_after == 1


def test_a_change_after_shipping_needs_confirmation_then_uses_the_reship() -> None:
    with pytest.raises(Conflict) as warned:
        check_request(S.SHIPPED, completed_uploads=1, reships_used=0, use_last_reship=False)
    assert warned.value.code == "SHIPMENT_LAST_RESHIP" and "use_last_reship" in warned.value.message
    check = check_request(S.SHIPPED, completed_uploads=1, reships_used=0, use_last_reship=True)
    assert check.reship and check.reships_left_after == 0


def test_a_second_change_is_refused_even_when_confirmed() -> None:
    for state in (S.SHIPPED, S.BLOCKED, S.NOT_SHIPPED):
        with pytest.raises(Conflict) as refused:
            check_request(state, completed_uploads=2, reships_used=1, use_last_reship=True)
        assert refused.value.code == "SHIPMENT_RESHIP_USED" and refused.value.status == 409


def test_blocked_before_any_upload_may_be_asked_again_without_using_the_reship() -> None:
    check = check_request(S.BLOCKED, completed_uploads=0, reships_used=0, use_last_reship=False)
    assert not check.reship


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (S.SHIPPING_SUBMITTED, "SHIPMENT_IN_PROGRESS"),
        (S.RECEIVED, "SHIPMENT_FINISHED"),
        (S.SETTLED, "SHIPMENT_FINISHED"),
    ],
)
def test_requests_refused_by_state(state: ShipmentState, code: str) -> None:
    with pytest.raises(Conflict) as refused:
        check_request(state, completed_uploads=1, reships_used=0, use_last_reship=True)
    assert refused.value.code == code


def test_transition_table() -> None:
    assert can_move(S.NOT_SHIPPED, S.SHIPPING_SUBMITTED) and can_move(S.SHIPPING_SUBMITTED, S.SHIPPED)
    assert can_move(S.SHIPPED, S.RECEIVED) and can_move(S.RECEIVED, S.SETTLED)
    assert can_move(S.SHIPPING_SUBMITTED, S.BLOCKED) and can_move(S.BLOCKED, S.SHIPPING_SUBMITTED)
    assert not any(can_move(S.SETTLED, to) for to in S)  # settled is final
    assert not can_move(S.RECEIVED, S.SHIPPED) and not can_move(S.RECEIVED, S.SHIPPING_SUBMITTED)
    assert not can_move(S.NOT_SHIPPED, S.NOT_SHIPPED)
    assert set(ALLOWED_FROM) == set(S)


@pytest.mark.parametrize(
    ("current", "view", "expected"),
    [
        (S.SHIPPED, WechatView(3, True, 1), S.RECEIVED),
        (S.SHIPPED, WechatView(4, True, 1), S.SETTLED),
        (S.RECEIVED, WechatView(4, True, 1), S.SETTLED),
        (S.RECEIVED, WechatView(2, True, 1), None),  # WeChat never takes a confirmation back
        (S.SETTLED, WechatView(3, True, 1), None),
        (S.SHIPPED, WechatView(1, False, 0), S.NOT_SHIPPED),  # shipped by hand elsewhere and undone: follow WeChat
        (S.SHIPPING_SUBMITTED, WechatView(1, False, 0), None),  # still to send
        (S.SHIPPING_SUBMITTED, WechatView(2, True, 1), None),  # a change still to send
        (S.NOT_SHIPPED, WechatView(2, True, 1), S.SHIPPED),  # shipped in the console
        (S.BLOCKED, WechatView(2, True, 2), S.SHIPPED),
        (S.SHIPPED, WechatView(5, True, 1), None),  # refunded: left for an operator
        (S.SHIPPED, WechatView(6, True, 1), S.RECEIVED),
    ],
)
def test_from_wechat(current: ShipmentState, view: WechatView, expected: ShipmentState | None) -> None:
    assert from_wechat(current, view) is expected


def test_upload_landed() -> None:
    assert upload_landed(WechatView(2, True, 1), completed_before=0)
    assert not upload_landed(WechatView(1, False, 0), completed_before=0)
    assert not upload_landed(WechatView(2, True, 1), completed_before=1)  # the change did not land
    assert upload_landed(WechatView(2, True, 2), completed_before=1)
    assert upload_landed(WechatView(3, True, 1), completed_before=1)
