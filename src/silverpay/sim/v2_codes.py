"""API v2's words for the neutral ones: err_codes for refusals, refund statuses, state descriptions."""

from __future__ import annotations

from silverpay.sim.core.commands import RefundStatus, TradeState
from silverpay.sim.core.failures import Reason

# result_code=FAIL err_code per reason (SPEC §2.3–2.8). v2 has no code of its own for an
# over-refund or too many refunds: its catch-all ERROR with a description.
ERR_CODES: dict[Reason, str] = {
    Reason.APPID_MCHID_NOT_MATCH: "APPID_MCHID_NOT_MATCH",
    Reason.NO_AUTH: "NOAUTH",
    Reason.PARAM_ERROR: "PARAM_ERROR",
    Reason.INVALID_REQUEST: "INVALID_REQUEST",
    Reason.NOT_FOUND: "ORDERNOTEXIST",
    Reason.NOT_PAID: "ORDERNOTEXIST",  # "未支付的订单不能发起退款"
    Reason.ALREADY_PAID: "ORDERPAID",
    Reason.CLOSED: "ORDERCLOSED",
    Reason.OUT_TRADE_NO_USED: "OUT_TRADE_NO_USED",
    Reason.PREPAY_EXPIRED: "INVALID_REQUEST",  # only wx.requestPayment meets it
    Reason.REFUND_NOT_FOUND: "REFUNDNOTEXIST",
    Reason.REFUND_LIMIT: "ERROR",
    Reason.REFUND_EXCEEDS_PAID: "ERROR",
    Reason.BILL_DATE_INVALID: "ERROR",  # downloadbill answers these its own way: BILL_ERRORS
    Reason.BILL_TYPE_INVALID: "ERROR",
    Reason.NO_BILL: "ERROR",
}

# downloadbill's failures: return_code=FAIL with return_msg and error_code (SPEC §2.9).
BILL_ERRORS: dict[Reason, tuple[str, str]] = {
    Reason.BILL_DATE_INVALID: ("invalid bill_date", "20001"),
    Reason.BILL_TYPE_INVALID: ("invalid bill_type", "20001"),
    Reason.NO_BILL: ("No Bill Exist", "20002"),
}

REFUND_STATUS: dict[RefundStatus, str] = {
    RefundStatus.PROCESSING: "PROCESSING",
    RefundStatus.SUCCESS: "SUCCESS",
    RefundStatus.CLOSED: "REFUNDCLOSE",
    RefundStatus.ABNORMAL: "CHANGE",
}
REFUND_STATUS_OF: dict[str, RefundStatus] = {name: status for status, name in REFUND_STATUS.items()}

TRADE_STATE_DESC: dict[TradeState, str] = {
    TradeState.NOTPAY: "订单未支付",
    TradeState.SUCCESS: "支付成功",
    TradeState.CLOSED: "订单已关闭",
    TradeState.REFUND: "订单发生过退款，退款详情请查询退款单",
}
