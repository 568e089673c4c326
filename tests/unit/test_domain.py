"""The pure domain: money, the order state machine, refund arithmetic."""

import pytest

from silverpay.domain.money import MAX_ORDER_FEN, format_yuan, order_amount, parse_yuan
from silverpay.domain.orders import (
    ALLOWED_FROM,
    Action,
    OrderStatus,
    Verdict,
    WechatTradeState,
    decide,
    verdict_for,
)
from silverpay.domain.refunds import MAX_REFUNDS_PER_ORDER, RefundStatus, check_refund, status_after_refunds
from silverpay.errors import Conflict, InvalidRequest


@pytest.mark.parametrize(("fen", "text"), [(0, "0.00"), (1, "0.01"), (10, "0.10"), (12345, "123.45"), (-5, "-0.05")])
def test_yuan_round_trip(fen: int, text: str) -> None:
    assert format_yuan(fen) == text
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "1.234", "1,00", "abc", "1.", ".5", "+1.00", "١.٠٠", "1e3", "0x10"])
def test_parse_yuan_refuses_instead_of_rounding(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)


def test_parse_yuan_short_forms() -> None:
    assert parse_yuan("7") == 700
    assert parse_yuan("12.5") == 1250


def test_order_amount_is_exact_and_bounded() -> None:
    assert order_amount(1999, 3) == 5997
    for price, quantity in ((0, 1), (-1, 1), (100, 0), (100, 100)):
        with pytest.raises(InvalidRequest):
            order_amount(price, quantity)
    with pytest.raises(InvalidRequest):
        order_amount(MAX_ORDER_FEN, 2)


def test_state_machine_guards() -> None:
    open_states = {OrderStatus.CREATED, OrderStatus.PAYING}
    assert set(ALLOWED_FROM[OrderStatus.PAID]) == open_states
    assert set(ALLOWED_FROM[OrderStatus.CLOSED]) == open_states
    assert OrderStatus.PAID not in ALLOWED_FROM[OrderStatus.CLOSED]  # a paid order is never closed
    assert OrderStatus.CLOSED not in ALLOWED_FROM[OrderStatus.PAID]  # a closed one never paid over
    assert set(ALLOWED_FROM[OrderStatus.REFUNDED]) == {OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED}
    assert [s for s in OrderStatus if not s.terminal] == [OrderStatus.CREATED, OrderStatus.PAYING]
    assert {s for s in OrderStatus if s.paid} == {OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED,
                                                   OrderStatus.REFUNDED}  # fmt: skip


@pytest.mark.parametrize(
    ("state", "verdict"),
    [("SUCCESS", Verdict.PAID), ("REFUND", Verdict.PAID), ("CLOSED", Verdict.CLOSED), ("REVOKED", Verdict.CLOSED),
     ("NOTPAY", Verdict.PENDING), ("USERPAYING", Verdict.PENDING), ("ACCEPT", Verdict.PENDING),
     ("PAYERROR", Verdict.PENDING)],
)  # fmt: skip
def test_verdicts(state: str, verdict: Verdict) -> None:
    assert verdict_for(WechatTradeState(state)) is verdict


def test_refund_arithmetic() -> None:
    check_refund(1000, 600, 1, 400)  # exactly the rest is fine
    with pytest.raises(Conflict, match="400 fen"):
        check_refund(1000, 600, 1, 401)
    with pytest.raises(InvalidRequest):
        check_refund(1000, 0, 0, 0)
    with pytest.raises(Conflict):
        check_refund(1000, 0, MAX_REFUNDS_PER_ORDER, 1)
    assert status_after_refunds(1000, 0) is OrderStatus.PAID
    assert status_after_refunds(1000, 1) is OrderStatus.PARTIALLY_REFUNDED
    assert status_after_refunds(1000, 1000) is OrderStatus.REFUNDED


def test_refund_status_words_of_both_versions_map_to_one_neutral_status() -> None:
    from silverpay.wechat.v2.client import refund_status
    from silverpay.wechat.v3.resources import REFUND_STATUS

    assert refund_status("REFUNDCLOSE") is REFUND_STATUS["CLOSED"] is RefundStatus.CLOSED
    assert refund_status("CHANGE") is REFUND_STATUS["ABNORMAL"] is RefundStatus.ABNORMAL
    assert refund_status("SUCCESS") is REFUND_STATUS["SUCCESS"] is RefundStatus.SUCCESS
    assert RefundStatus.SUCCESS.final and not RefundStatus.ABNORMAL.final
    with pytest.raises(ValueError):
        refund_status("MAYBE")


S, W = OrderStatus, WechatTradeState


@pytest.mark.parametrize(
    ("status", "txid", "state", "paid", "paid_txid", "action", "reason"),
    [
        (S.PAYING, None, W.SUCCESS, 1000, "T1", Action.SETTLE, ""),
        (S.CREATED, None, W.SUCCESS, 1000, "T1", Action.SETTLE, ""),
        (S.PAYING, None, W.REFUND, 1000, "T1", Action.SETTLE, ""),  # refunded at WeChat: it was paid first
        (S.PAYING, None, W.SUCCESS, 999, "T1", Action.FLAG, "amount mismatch"),
        (S.CLOSED, None, W.SUCCESS, 1000, "T1", Action.REFUND_SURPLUS, "after the order was closed"),
        (S.CLOSED, None, W.SUCCESS, 999, "T1", Action.FLAG, "amount mismatch"),
        (S.PAID, "T1", W.SUCCESS, 1000, "T1", Action.DUPLICATE, ""),
        (S.PAID, "T1", W.SUCCESS, 1000, "T2", Action.FLAG, "second transaction T2"),  # under the same number
        (S.REFUNDED, "T1", W.SUCCESS, 1000, "", Action.DUPLICATE, ""),
        (S.PAYING, None, W.CLOSED, 0, "", Action.CLOSE, ""),
        (S.CREATED, None, W.REVOKED, 0, "", Action.CLOSE, ""),
        (S.PAID, "T1", W.CLOSED, 0, "", Action.FLAG, "CLOSED for an order paid here"),
        (S.CLOSED, None, W.CLOSED, 0, "", Action.DUPLICATE, ""),
        (S.PAYING, None, W.NOTPAY, 0, "", Action.PENDING, ""),
        (S.PAYING, None, W.USERPAYING, 0, "", Action.PENDING, ""),
        (S.PAYING, None, W.PAYERROR, 0, "", Action.PENDING, ""),
        (S.PAID, "T1", W.NOTPAY, 0, "", Action.PENDING, ""),
    ],
)
def test_decide_what_wechats_view_does_to_an_order(
    status: OrderStatus, txid: str | None, state: WechatTradeState, paid: int, paid_txid: str, action: Action,
    reason: str,
) -> None:  # fmt: skip
    decision = decide(status, 1000, txid, state, paid, paid_txid)
    assert decision.action is action
    assert reason in decision.reason
    assert (decision.reason == "") == (action not in (Action.FLAG, Action.REFUND_SURPLUS))


@pytest.mark.parametrize("status", [S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED])
def test_a_paid_order_refunds_another_attempts_payment(status: OrderStatus) -> None:
    decision = decide(status, 1000, "T1", W.SUCCESS, 1000, "T2", other_attempt=True)
    assert decision.action is Action.REFUND_SURPLUS and "second payment T2" in decision.reason
    assert decide(S.PAYING, 1000, None, W.SUCCESS, 1000, "T2", other_attempt=True).action is Action.SETTLE
    assert decide(status, 1000, "T1", W.SUCCESS, 999, "T2", other_attempt=True).action is Action.FLAG


@pytest.mark.parametrize("status", [S.CREATED, S.PAYING])
def test_what_the_ledger_settles_at_once_is_what_decide_settles(status: OrderStatus) -> None:
    """store/ledger_pg.py settles a notification in one statement when the order is open under this
    very number and the amounts match: exactly where the rule answers SETTLE."""
    assert decide(status, 1000, None, W.SUCCESS, 1000, "T1").action is Action.SETTLE
