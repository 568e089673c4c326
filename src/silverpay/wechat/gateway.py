"""The one narrow interface the service uses to talk to WeChat Pay, with neutral data types.

API v2 (XML, MD5/HMAC keys) implements it in ``wechat/v2/gateway.py``; API v3 will be a second
implementation. Nothing above this module sees XML, JSON bodies or WeChat field names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple, Protocol

from silverpay.domain.orders import WechatTradeState


@dataclass(frozen=True)
class PrepayRequest:
    out_trade_no: str
    description: str
    amount_fen: int
    openid: str
    notify_url: str
    expires_at: float  # epoch seconds; WeChat refuses payment after it
    client_ip: str


@dataclass(frozen=True)
class Prepay:
    prepay_id: str
    expires_at: float  # epoch seconds: WeChat keeps a prepay_id valid for 2 hours


@dataclass(frozen=True)
class PayParams:
    """Exactly what ``wx.requestPayment`` takes."""

    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


@dataclass(frozen=True)
class TradeStatus:
    """WeChat's view of one trade, from a query or a verified notification."""

    out_trade_no: str
    state: WechatTradeState
    amount_fen: int
    transaction_id: str = ""
    paid_at: float | None = None
    openid: str = ""


@dataclass(frozen=True)
class Notification:
    """A payment notification whose signature, appid and mch_id have been verified."""

    trade: TradeStatus
    sign_type: str  # how it was signed, for the record


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str
    total_fen: int  # the order's amount
    refund_fen: int
    reason: str
    notify_url: str


@dataclass(frozen=True)
class RefundResult:
    """WeChat's view of one refund. ``status`` is WeChat's word (SUCCESS, PROCESSING, …)."""

    out_refund_no: str
    out_trade_no: str
    refund_id: str
    status: str
    refund_fen: int
    succeeded_at: float | None = None


class BillPayment(NamedTuple):  # tuples, not dataclasses: a bill has millions of them
    out_trade_no: str
    transaction_id: str
    amount_fen: int


class BillRefund(NamedTuple):
    out_trade_no: str
    out_refund_no: str
    refund_fen: int
    status: str


@dataclass(frozen=True)
class BillTotals:
    rows: int
    paid_fen: int
    refunded_fen: int


BillLine = BillPayment | BillRefund | BillTotals


@dataclass(frozen=True)
class NotificationReply:
    status_code: int
    body: bytes
    media_type: str


class PayGateway(Protocol):
    """WeChat Pay as the service needs it. Errors come from :mod:`silverpay.errors`:

    - :class:`UpstreamUnavailable` when the outcome is unknown (retry with the same arguments);
    - :class:`TradeAlreadyPaid`, :class:`TradeClosed`, :class:`TradeNotFound` for those answers;
    - :class:`UpstreamRejected` for any other refusal.
    """

    async def prepay(self, request: PrepayRequest) -> Prepay: ...

    async def query(self, out_trade_no: str) -> TradeStatus: ...

    async def close(self, out_trade_no: str) -> None: ...

    def pay_params(self, prepay_id: str) -> PayParams: ...

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund; the answer means accepted (PROCESSING) unless it says otherwise."""
        ...

    async def refund_query(self, out_refund_no: str) -> RefundResult: ...

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        """Stream the trade bill of a Beijing date into ``dest``; False when WeChat has no bill."""
        ...

    def read_bill(self, path: Path) -> Iterator[BillLine]:
        """The bill's lines as neutral records, streamed; the totals line comes last."""
        ...

    def parse_refund_notification(self, body: bytes) -> RefundResult:
        """Decrypt and check a refund notification; raise ProtocolError if it is not genuine."""
        ...

    def parse_notification(self, body: bytes) -> Notification:
        """Verify and decode a payment notification; raise ProtocolError if it is not genuine."""
        ...

    def reply(self, ok: bool, message: str = "OK") -> NotificationReply:
        """What to answer the notifier: ``ok`` stops WeChat's retries."""
        ...
