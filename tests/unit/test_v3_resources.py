"""v3 transaction and refund objects ↔ the neutral types, and the sim's neutral → v2/v3 translations."""

from __future__ import annotations

from typing import Any

import pytest

from silverpay.domain.orders import WechatTradeState
from silverpay.errors import ProtocolError
from silverpay.sim import v2_codes, v3_codes
from silverpay.sim.core.commands import TradeState, TradeView
from silverpay.sim.core.failures import Reason
from silverpay.sim.v3_json import transaction_json
from silverpay.wechat.gateway import RefundRequest
from silverpay.wechat.v3 import resources
from silverpay.wechat.v3.error_map import error_for

PAID = {
    "appid": "wx8888888888888888", "mchid": "1900009191", "out_trade_no": "SP1", "transaction_id": "4200001",
    "trade_state": "SUCCESS", "success_time": "2018-06-08T10:34:56+08:00", "payer": {"openid": "o1"},
    "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
}  # fmt: skip


def test_trade_status_of_a_paid_and_an_unpaid_transaction() -> None:
    paid = resources.trade_status(PAID)
    assert (paid.out_trade_no, paid.state, paid.amount_fen, paid.transaction_id, paid.openid) == (
        "SP1", WechatTradeState.SUCCESS, 100, "4200001", "o1")  # fmt: skip
    assert paid.paid_at == 1528425296.0
    unpaid = resources.trade_status({"out_trade_no": "SP1", "trade_state": "NOTPAY", "amount": {"total": 1},
                                     "payer": {}})  # fmt: skip
    assert unpaid.paid_at is None and unpaid.transaction_id == ""


@pytest.mark.parametrize(
    "change",
    [
        {"amount": {"total": "100"}},
        {"amount": {"total": True}},
        {"amount": {"total": -1}},
        {"amount": None},
        {"trade_state": "PAID"},
        {"success_time": "20180608103456"},
        {"out_trade_no": ""},
        {"payer": "o1"},
    ],
)
def test_malformed_transactions(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as raised:
        resources.trade_status(PAID | change)
    assert raised.value.code == "TRADE_FIELDS_INVALID"


def test_refund_results_read_status_or_refund_status() -> None:
    doc = {"out_refund_no": "RF1", "out_trade_no": "SP1", "refund_id": "503", "amount": {"refund": 40}}
    assert resources.refund_result({**doc, "status": "PROCESSING"}).status == "PROCESSING"
    notified = resources.refund_result({**doc, "refund_status": "CLOSED"}, status_field="refund_status")
    assert (notified.status, notified.refund_fen) == ("CLOSED", 40)
    with pytest.raises(ProtocolError):
        resources.refund_result(doc)  # no status


def test_refund_body() -> None:
    body = resources.refund_body(RefundRequest("SP1", "RF1", 100, 40, "x" * 100, "https://m.test/n"))
    assert body["amount"] == {"refund": 40, "total": 100, "currency": "CNY"}
    assert len(body["reason"]) == 80 and body["notify_url"] == "https://m.test/n"
    assert "reason" not in resources.refund_body(RefundRequest("SP1", "RF1", 100, 40, "", ""))


def test_the_simulators_transaction_is_what_the_gateway_reads() -> None:
    paid = TradeView(
        mch_id="1900009191", appid="wx8888888888888888", out_trade_no="SP1", trade_state=TradeState.SUCCESS,
        trade_type="JSAPI", description="d", total_fen=100, attach="", openid="o1", transaction_id="4200001",
        paid_at=1528425296.7, bank_type="OTHERS", payer_total_fen=100,
    )  # fmt: skip
    doc = transaction_json(paid)
    assert doc["success_time"] == "2018-06-08T10:34:56+08:00"
    assert resources.trade_status(doc) == resources.trade_status(PAID)


def test_every_reason_has_a_word_in_both_versions() -> None:
    assert set(v2_codes.ERR_CODES) == set(v3_codes.ERRORS) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason))
def test_every_translated_error_reads_back_as_v2_would(reason: Reason) -> None:
    """The simulator's v3 error for a refusal maps to the exception class v2's gateway raises for
    the simulator's v2 err_code of the same refusal."""
    from silverpay.wechat.v2.client import BY_ERR_CODE, RETRYABLE

    err_code = v2_codes.ERR_CODES[reason]
    status, code = v3_codes.ERRORS[reason]
    error = error_for(status, f'{{"code":"{code}","message":"…"}}'.encode())
    if err_code in RETRYABLE:
        assert type(error).__name__ == "UpstreamUnavailable"
    elif err_code in BY_ERR_CODE and err_code != "REFUNDNOTEXIST":  # v3: RefundNotFound only via the override
        assert type(error) is BY_ERR_CODE[err_code]
    elif err_code in ("APPID_MCHID_NOT_MATCH", "NOAUTH"):  # v2 says UpstreamRejected: see error_map
        assert type(error).__name__ == "UpstreamMisconfigured"
    else:  # refused for good; v3 names who we are wrong as misconfiguration (kept pending, not closed)
        assert type(error).__name__ == "UpstreamRejected"
