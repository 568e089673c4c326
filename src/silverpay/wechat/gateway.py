"""The one seam between silverpay and WeChat Pay, the same for API v2 and v3, in neutral types.

- :class:`PayClient`: what silverpay asks of WeChat (prepay, query, close, refund, refund query,
  bill download) and the locally signed ``wx.requestPayment`` parameters.
- :class:`NotificationVerifier`: what WeChat tells silverpay. ``verify(headers, body)`` checks a
  notification and answers a :class:`PaymentNotice`, a :class:`RefundNotice` or an
  :class:`IgnoredNotice`, or raises :class:`~silverpay.errors.NotificationRejected`.

``wechat/v2`` and ``wechat/v3`` implement both. Nothing above this module sees XML, JSON, WeChat
field names or status words, or HTTP replies: the API layer renders WeChat's expected answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple, Protocol

from silverpay.domain.orders import WechatTradeState
from silverpay.domain.refunds import RefundStatus


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
class RefundRequest:
    out_trade_no: str
    out_refund_no: str
    total_fen: int  # the order's amount
    refund_fen: int
    reason: str
    notify_url: str


@dataclass(frozen=True)
class RefundResult:
    """WeChat's view of one refund, its status in silverpay's words."""

    out_refund_no: str
    out_trade_no: str
    refund_id: str
    status: RefundStatus
    refund_fen: int
    succeeded_at: float | None = None


@dataclass(frozen=True)
class Delivery:
    """One v3 delivery: its notification id and the nonce it was signed with. A replay repeats both;
    WeChat's own retries are signed afresh, so they do not."""

    notification_id: str
    nonce: str

    @property
    def key(self) -> str:
        return f"{self.notification_id}:{self.nonce}"


@dataclass(frozen=True)
class PaymentNotice:
    """A genuine payment notification for our appid and mch_id."""

    trade: TradeStatus
    signature: str  # the algorithm that verified it (MD5, HMAC-SHA256, WECHATPAY2-SHA256-RSA2048)
    delivery: Delivery | None = None


@dataclass(frozen=True)
class RefundNotice:
    """A genuine refund notification for our mch_id."""

    refund: RefundResult
    signature: str
    delivery: Delivery | None = None


@dataclass(frozen=True)
class IgnoredNotice:
    """Genuine, but about nothing silverpay acts on: acknowledged so WeChat stops retrying."""

    event_type: str


Notice = PaymentNotice | RefundNotice | IgnoredNotice


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


class PayClient(Protocol):
    """WeChat Pay as the service calls it. Errors come from :mod:`silverpay.errors`:

    - :class:`UpstreamUnavailable` when the outcome is unknown (retry with the same arguments);
    - :class:`TradeAlreadyPaid`, :class:`TradeClosed`, :class:`TradeNotFound`,
      :class:`RefundNotFound` for those answers;
    - :class:`UpstreamRejected` for any other refusal.
    """

    async def prepay(self, request: PrepayRequest) -> Prepay: ...

    async def query(self, out_trade_no: str) -> TradeStatus: ...

    async def close(self, out_trade_no: str) -> None: ...

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund; the answer means accepted (PROCESSING) unless it says otherwise."""
        ...

    async def refund_query(self, out_refund_no: str) -> RefundResult: ...

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        """Stream the trade bill of a Beijing date into ``dest``, gzipped as WeChat serves it (checked
        against WeChat's hash where it gives one); False when WeChat has no bill."""
        ...

    def pay_params(self, prepay_id: str) -> PayParams:
        """Signed locally: no call to WeChat."""
        ...


class NotificationVerifier(Protocol):
    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Check that ``body`` comes from WeChat for this merchant and decode it; raise
        :class:`~silverpay.errors.NotificationRejected` (its ``code`` says why) otherwise.
        Async because v3 may download platform certificates to learn the signing key."""
        ...
