"""API v3 inbound: :class:`V3Verifier`, the :class:`~silverpay.wechat.gateway.NotificationVerifier`
for v3 notifications (SPEC §3.4): the ``Wechatpay-*`` headers verified with the platform keys
(shared with :class:`~.client.V3PayClient`, so an unknown serial triggers one certificate download
for both), the resource decrypted with the APIv3 key, then checked to be ours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from silverpay.errors import NotificationRejected, ProtocolError
from silverpay.wechat.gateway import (
    Delivery,
    IgnoredNotice,
    Notice,
    PaymentNotice,
    RefundNotice,
    RefundResult,
    TradeStatus,
)
from silverpay.wechat.v3 import resources
from silverpay.wechat.v3.notification import (
    EVENT_REFUND_ABNORMAL,
    EVENT_REFUND_CLOSED,
    EVENT_REFUND_SUCCESS,
    EVENT_TRANSACTION_SUCCESS,
    parse_notification,
)
from silverpay.wechat.v3.platform_keys import PlatformKeys
from silverpay.wechat.v3.signing import SIGNATURE_TYPE, WechatpayHeaders

REFUND_EVENTS = frozenset({EVENT_REFUND_SUCCESS, EVENT_REFUND_ABNORMAL, EVENT_REFUND_CLOSED})


class V3Verifier:
    def __init__(self, platform: PlatformKeys, *, appid: str, mch_id: str, api_v3_key: str) -> None:
        self._platform = platform
        self.appid = appid
        self.mch_id = mch_id
        self._api_v3_key = api_v3_key

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Raises :class:`NotificationRejected`: its ``code`` says why (``SIGNATURE_UNKNOWN_SERIAL``
        also when the certificate download that might have named the key failed or was too soon
        after the last one: WeChat retries); ``claimed_out_trade_no`` once the resource decrypted."""
        try:
            await self._platform.verify(headers, body)  # may fetch certificates: I/O, hence async
            # Verified already: parse_notification's own check holds with the same keys and clock.
            parsed = parse_notification(headers, body, verifier=self._platform.verifier,
                                        api_v3_key=self._api_v3_key, now=self._platform.now())  # fmt: skip
        except ProtocolError as error:  # SignatureError, DecryptionError, a malformed envelope
            raise NotificationRejected(error.message, code=error.code) from None
        delivery = Delivery(parsed.id, WechatpayHeaders.from_headers(headers).nonce)
        if parsed.event_type == EVENT_TRANSACTION_SUCCESS:
            return PaymentNotice(self._trade(parsed.resource), SIGNATURE_TYPE, delivery)
        if parsed.event_type in REFUND_EVENTS:
            return RefundNotice(self._refund(parsed.resource), SIGNATURE_TYPE, delivery)
        return IgnoredNotice(parsed.event_type)

    def _trade(self, doc: dict[str, Any]) -> TradeStatus:
        claimed = resources.claimed_out_trade_no(doc)
        if doc.get("appid") != self.appid:
            raise NotificationRejected("appid is not ours", code="APPID_MISMATCH", claimed_out_trade_no=claimed)
        if doc.get("mchid") != self.mch_id:
            raise NotificationRejected("mchid is not ours", code="MCH_ID_MISMATCH", claimed_out_trade_no=claimed)
        try:
            return resources.trade_status(doc)
        except ProtocolError as error:
            raise NotificationRejected(error.message, code=error.code, claimed_out_trade_no=claimed) from None

    def _refund(self, doc: dict[str, Any]) -> RefundResult:
        claimed = resources.claimed_out_trade_no(doc)
        if doc.get("mchid") != self.mch_id:
            raise NotificationRejected("refund notification is for another merchant", code="MERCHANT_MISMATCH",
                                       claimed_out_trade_no=claimed)  # fmt: skip
        try:
            return resources.refund_result(doc, status_field="refund_status")
        except ProtocolError as error:
            raise NotificationRejected(error.message, code=error.code, claimed_out_trade_no=claimed) from None
