"""API v3's words for the neutral ones: HTTP status and code per refusal (SPEC §3.8)."""

from __future__ import annotations

from silverpay.sim.core.failures import Reason

# No v3 table lists a paid-order code; ORDERPAID (400, a state conflict like ORDER_CLOSED) is what
# developers report from v3. v3 answers a missing refund as a missing resource.
ERRORS: dict[Reason, tuple[int, str]] = {
    Reason.APPID_MCHID_NOT_MATCH: (400, "APPID_MCHID_NOT_MATCH"),
    Reason.NO_AUTH: (403, "NO_AUTH"),
    Reason.PARAM_ERROR: (400, "PARAM_ERROR"),
    Reason.INVALID_REQUEST: (400, "INVALID_REQUEST"),
    Reason.NOT_FOUND: (404, "ORDER_NOT_EXIST"),
    Reason.NOT_PAID: (404, "ORDER_NOT_EXIST"),
    Reason.ALREADY_PAID: (400, "ORDERPAID"),
    Reason.CLOSED: (400, "ORDER_CLOSED"),
    Reason.OUT_TRADE_NO_USED: (403, "OUT_TRADE_NO_USED"),
    Reason.PREPAY_EXPIRED: (400, "INVALID_REQUEST"),  # only wx.requestPayment meets it
    Reason.REFUND_NOT_FOUND: (404, "RESOURCE_NOT_EXISTS"),
    Reason.REFUND_LIMIT: (400, "INVALID_REQUEST"),
    Reason.REFUND_EXCEEDS_PAID: (400, "INVALID_REQUEST"),
    Reason.BILL_DATE_INVALID: (400, "PARAM_ERROR"),
    Reason.BILL_TYPE_INVALID: (400, "PARAM_ERROR"),
    Reason.NO_BILL: (400, "NO_STATEMENT_EXIST"),
}
# Where v3 words it otherwise than the rule's message (which is v2's).
MESSAGES: dict[Reason, str] = {
    Reason.REFUND_NOT_FOUND: "退款单不存在",
    Reason.NO_BILL: "要查询的账单文件不存在",
}
