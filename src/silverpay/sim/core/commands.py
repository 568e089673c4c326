"""What the adapters ask the rules, and what the rules answer: amounts in fen, times in epoch seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class ApiVersion(StrEnum):
    V2 = "v2"
    V3 = "v3"


class TradeState(StrEnum):
    """WeChat's trade states (both versions spell them alike); the simulator models these four."""

    NOTPAY = "NOTPAY"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"  # paid, then refunded in part or in full
    CLOSED = "CLOSED"

    @property
    def paid(self) -> bool:
        return self in (TradeState.SUCCESS, TradeState.REFUND)


class RefundStatus(StrEnum):
    """v3's names; v2 says REFUNDCLOSE for CLOSED and CHANGE for ABNORMAL."""

    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    ABNORMAL = "ABNORMAL"


class BillType(StrEnum):
    ALL = "ALL"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"


# Orders --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderTerms:
    """What a re-entrant prepay must repeat exactly (SPEC §2.3): any difference is OUT_TRADE_NO_USED.

    ``extras`` are the other business fields of the call, as ``(name, value)`` pairs sorted by
    name, so that fields the simulator does not interpret still count (v2: ``device_info``,
    ``detail``, ``fee_type`` when sent, …; v3: ``goods_tag``, ``detail``, …).
    """

    appid: str
    description: str
    total_fen: int
    openid: str
    notify_url: str
    trade_type: str = "JSAPI"
    attach: str = ""
    time_expire: float | None = None
    extras: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Prepay:
    """unifiedorder / ``POST /v3/pay/transactions/jsapi``."""

    api: ApiVersion
    mch_id: str
    out_trade_no: str
    terms: OrderTerms
    sign_type: str  # what wx.requestPayment will sign with: MD5 | HMAC-SHA256 (v2), RSA (v3)


@dataclass(frozen=True)
class Prepaid:
    prepay_id: str
    trade_type: str


@dataclass(frozen=True)
class TradeRef:
    """How a call names a trade: by transaction_id (preferred when both are given) or out_trade_no."""

    mch_id: str
    out_trade_no: str = ""
    transaction_id: str = ""
    appid: str | None = None  # v2 calls name the app, which must be the trade's; v3 calls name none


@dataclass(frozen=True)
class TradeView:
    """A trade as a query answers it."""

    mch_id: str
    appid: str
    out_trade_no: str
    trade_state: TradeState
    trade_type: str
    description: str
    total_fen: int
    attach: str
    openid: str
    # Set once paid (payment fields exist only then, SPEC §2.5):
    transaction_id: str = ""
    paid_at: float | None = None
    bank_type: str = ""
    payer_total_fen: int = 0


@dataclass(frozen=True)
class Closed:
    ignored: bool  # younger than five minutes: answered as success, the trade stays open (SPEC §2.6)


# Refunds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refund:
    api: ApiVersion
    trade: TradeRef
    out_refund_no: str
    total_fen: int  # must be the trade's total
    refund_fen: int
    reason: str = ""
    notify_url: str = ""


@dataclass(frozen=True)
class RefundView:
    refund_id: str
    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    total_fen: int
    refund_fen: int
    payer_total_fen: int
    status: RefundStatus
    created_at: float
    success_time: float | None


@dataclass(frozen=True)
class RefundQuery:
    """One refund by out_refund_no or refund_id, else every refund of a trade."""

    mch_id: str
    appid: str | None = None
    out_refund_no: str = ""
    refund_id: str = ""
    trade: TradeRef | None = None


@dataclass(frozen=True)
class RefundsOfTrade:
    trade: TradeView
    refunds: tuple[RefundView, ...]


# Bills and seeding ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BillRequest:
    mch_id: str
    day: date  # a Beijing calendar day
    bill_type: BillType = BillType.ALL
    appid: str | None = None


@dataclass(frozen=True)
class SeedTrade:
    """A trade put into the state directly (control API), as if ordered (and paid or closed) earlier."""

    out_trade_no: str
    total_fen: int
    openid: str
    trade_state: TradeState = TradeState.NOTPAY
    api: ApiVersion = ApiVersion.V2
    created_at: float | None = None  # default: now
    paid_at: float | None = None  # SUCCESS only; default: now
    description: str = "seeded order"
    attach: str = ""
    notify_url: str = ""


@dataclass(frozen=True)
class Seed:
    mch_id: str
    appid: str
    trades: tuple[SeedTrade, ...]


@dataclass(frozen=True)
class Seeded:
    out_trade_no: str
    prepay_id: str
    transaction_id: str
