"""Why a rule refuses a call, in words of neither API version (each adapter has its table)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    APPID_MCHID_NOT_MATCH = "APPID_MCHID_NOT_MATCH"  # the app is not bound to the merchant
    NO_AUTH = "NO_AUTH"  # the merchant may not use this (trade type)
    PARAM_ERROR = "PARAM_ERROR"  # a well-formed value the rules refuse (another app's openid, changed amounts)
    INVALID_REQUEST = "INVALID_REQUEST"  # refused at this time (time_expire too soon)
    NOT_FOUND = "NOT_FOUND"  # no such trade
    NOT_PAID = "NOT_PAID"  # a refund of a trade that was never paid
    ALREADY_PAID = "ALREADY_PAID"
    CLOSED = "CLOSED"  # closed, or past its time_expire
    OUT_TRADE_NO_USED = "OUT_TRADE_NO_USED"  # re-entry with different terms
    PREPAY_EXPIRED = "PREPAY_EXPIRED"  # a payment sheet whose prepay_id is no longer valid
    REFUND_NOT_FOUND = "REFUND_NOT_FOUND"
    REFUND_LIMIT = "REFUND_LIMIT"  # too many refunds of one trade
    REFUND_EXCEEDS_PAID = "REFUND_EXCEEDS_PAID"
    BILL_DATE_INVALID = "BILL_DATE_INVALID"  # today or later, or older than three months
    BILL_TYPE_INVALID = "BILL_TYPE_INVALID"
    NO_BILL = "NO_BILL"  # nothing happened that day


class RuleFailure(Exception):
    """A refusal by the platform's rules; ``message`` is the platform's own description."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
