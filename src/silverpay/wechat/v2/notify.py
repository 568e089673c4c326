"""API v2 inbound: :class:`V2Verifier`, the :class:`~silverpay.wechat.gateway.NotificationVerifier`
for payment notifications (signed XML, SPEC §2.10) and refund notifications (``req_info`` encrypted
with the API key, unsigned, SPEC §2.11). One verifier serves both notify URLs: the body says which."""

from __future__ import annotations

from collections.abc import Mapping

from silverpay.beijing import parse_beijing_dashed
from silverpay.errors import DecryptionError, NotificationRejected, ProtocolError, SignatureError, XmlError
from silverpay.wechat.gateway import Notice, PaymentNotice, RefundNotice, RefundResult
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.client import refund_status, trade_status
from silverpay.wechat.v2.crypto import decrypt_req_info

# A refund notification is not signed: only WeChat (and we) can encrypt with our key (SPEC §2.11).
REFUND_SIGNATURE = "AES-256-ECB"


class V2Verifier:
    def __init__(self, *, appid: str, mch_id: str, api_key: str) -> None:
        self.appid = appid
        self.mch_id = mch_id
        self._api_key = api_key

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        return self.verify_body(body)

    def verify_body(self, body: bytes) -> Notice:
        try:
            fields = xml.decode(body)
        except XmlError as error:  # nothing readable to claim
            raise NotificationRejected(error.message, code=error.code) from None
        if "req_info" in fields:
            return self._refund(fields)
        return self._payment(fields)

    def _payment(self, fields: Mapping[str, str]) -> PaymentNotice:
        claimed = fields.get("out_trade_no", "")
        try:
            sign_type = signing.verify(fields, self._api_key)
        except SignatureError as exc:
            raise NotificationRejected(exc.message, code=exc.code, claimed_out_trade_no=claimed) from None
        self._check_ours(fields, claimed)
        # return_code is about the message; result_code about the payment (a failed one is PAYERROR).
        state = "SUCCESS" if fields.get("result_code") == "SUCCESS" else "PAYERROR"
        try:
            trade = trade_status({**fields, "trade_state": state}, state_field="trade_state")
        except ProtocolError as exc:
            raise NotificationRejected(exc.message, code=exc.code, claimed_out_trade_no=claimed) from None
        return PaymentNotice(trade, sign_type.value)

    def _refund(self, fields: Mapping[str, str]) -> RefundNotice:
        self._check_ours(fields, "")
        try:
            inner = xml.decode(decrypt_req_info(fields.get("req_info", ""), self._api_key))
        except (DecryptionError, XmlError) as exc:
            raise NotificationRejected(exc.message, code=exc.code) from None
        claimed = inner.get("out_trade_no", "")
        try:
            success = inner.get("success_time", "")
            result = RefundResult(
                out_refund_no=inner["out_refund_no"],
                out_trade_no=claimed,
                refund_id=inner.get("refund_id", ""),
                status=refund_status(inner["refund_status"]),
                refund_fen=int(inner["refund_fee"]),
                succeeded_at=parse_beijing_dashed(success) if success else None,
            )
        except (KeyError, ValueError, ProtocolError):
            raise NotificationRejected("refund fields are malformed", code="FIELDS_INVALID",
                                       claimed_out_trade_no=claimed) from None  # fmt: skip
        return RefundNotice(result, REFUND_SIGNATURE)

    def _check_ours(self, fields: Mapping[str, str], claimed: str) -> None:
        if fields.get("appid") != self.appid:
            raise NotificationRejected("appid is not ours", code="APPID_MISMATCH", claimed_out_trade_no=claimed)
        if fields.get("mch_id") != self.mch_id:
            raise NotificationRejected("mch_id is not ours", code="MCH_ID_MISMATCH", claimed_out_trade_no=claimed)
        if fields.get("return_code") != "SUCCESS":
            raise NotificationRejected("return_code is not SUCCESS", code="NOT_SUCCESS", claimed_out_trade_no=claimed)
