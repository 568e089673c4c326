"""The simulator's records and their in-memory indexes.

Every mutation goes through :class:`SimState` so that the persistence layer sees it. Handlers run
on one event loop and never await between reading and writing a record, so no locks are needed.
Every lookup a request makes is a dict access, whatever the number of trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from silverpay.sim import state_upgrade as upgrade
from silverpay.sim.core.commands import ApiVersion, OrderTerms, RefundStatus, TradeState
from silverpay.sim.persistence import Persistence


@dataclass
class LoginCode:
    code: str
    appid: str
    openid: str
    issued_at: float
    used: bool = False


@dataclass
class User:
    appid: str
    openid: str
    user: str
    session_key: str


@dataclass
class Trade:
    """One order at the platform. ``api`` is the version of the call that created (or last
    prepaid) it: it decides how ``wx.requestPayment`` is signed and how the payment is notified."""

    mch_id: str
    out_trade_no: str
    appid: str
    openid: str
    description: str
    total_fen: int
    notify_url: str
    api: ApiVersion
    sign_type: str  # the paySign type: MD5 | HMAC-SHA256 (v2), RSA (v3)
    created_at: float
    prepay_id: str
    prepay_expires_at: float
    trade_type: str = "JSAPI"
    attach: str = ""
    time_expire: float | None = None
    extras: tuple[tuple[str, str], ...] = ()  # see OrderTerms
    trade_state: TradeState = TradeState.NOTPAY
    transaction_id: str = ""
    paid_at: float | None = None
    bank_type: str = ""
    payer_total_fen: int = 0
    closed_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.mch_id}:{self.out_trade_no}"

    @property
    def terms(self) -> OrderTerms:
        return OrderTerms(
            appid=self.appid, description=self.description, total_fen=self.total_fen, openid=self.openid,
            notify_url=self.notify_url, trade_type=self.trade_type, attach=self.attach, time_expire=self.time_expire,
            extras=self.extras,
        )  # fmt: skip

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> Trade:
        trade = cls(**row)
        trade.api, trade.trade_state = ApiVersion(trade.api), TradeState(trade.trade_state)
        trade.extras = tuple((str(name), str(value)) for name, value in trade.extras)
        return trade


@dataclass
class SimRefund:
    mch_id: str
    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    refund_id: str
    total_fen: int
    refund_fen: int
    reason: str
    notify_url: str
    created_at: float
    due_at: float  # when the platform finishes processing it
    outcome: RefundStatus  # what it will end as
    api: ApiVersion  # the version that asked for it, and so the format of its notification
    status: RefundStatus = RefundStatus.PROCESSING
    success_time: float | None = None

    @property
    def key(self) -> str:
        return f"{self.mch_id}:{self.out_refund_no}"

    @property
    def trade_key(self) -> str:
        return f"{self.mch_id}:{self.out_trade_no}"

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> SimRefund:
        refund = cls(**row)
        refund.outcome, refund.status = RefundStatus(refund.outcome), RefundStatus(refund.status)
        refund.api = ApiVersion(refund.api)
        return refund


@dataclass
class Delivery:
    """One notification to deliver, with its retry position."""

    id: str
    kind: str  # "payment", "refund" or "mp_push" (a mini-program message push)
    mch_id: str
    out_trade_no: str
    url: str
    body: str
    created_at: float
    attempts: int = 0
    next_at: float | None = None  # simulated time of the next attempt; None once finished
    acknowledged: bool = False
    dropped: bool = False
    duplicate: bool = False  # fault: every attempt is sent twice
    api: ApiVersion = ApiVersion.V2  # v3 deliveries are signed afresh at every attempt, acknowledged by status
    content_type: str | None = None  # set for deliveries complete as queued (message pushes)


@dataclass
class Attempt:
    delivery_id: str
    kind: str
    out_trade_no: str
    attempt: int
    at: float
    http_status: int | None
    response_body: str
    acknowledged: bool
    error: str | None = None
    duplicate: bool = False


class SimState:
    def __init__(self, persistence: Persistence) -> None:
        self._persistence = persistence
        self.codes: dict[str, LoginCode] = {}
        self.users: dict[str, User] = {}  # by f"{appid}:{openid}"
        self.trades: dict[str, Trade] = {}  # by Trade.key
        self.prepays: dict[str, str] = {}  # prepay_id -> Trade.key
        self.transactions: dict[str, str] = {}  # transaction_id -> Trade.key
        self.refunds: dict[str, SimRefund] = {}  # by SimRefund.key
        self.refund_ids: dict[str, str] = {}  # refund_id -> SimRefund.key
        self.trade_refunds: dict[str, list[str]] = {}  # Trade.key -> its SimRefund.keys, oldest first
        self.processing: dict[str, None] = {}  # SimRefund.keys still PROCESSING, in order (a set that keeps it)
        self.deliveries: dict[str, Delivery] = {}
        self.attempts: list[Attempt] = []
        self.meta: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        p = self._persistence
        for row in p.load("code"):
            self.codes[row["code"]] = LoginCode(**row)
        for row in p.load("user"):
            user = User(**row)
            self.users[f"{user.appid}:{user.openid}"] = user
        for row in p.load("trade"):
            self._index_trade(Trade.from_record(upgrade.trade(row)))
        for row in p.load("refund"):
            self._index_refund(SimRefund.from_record(upgrade.refund(row)))
        for row in p.load("delivery"):
            delivery = Delivery(**row)
            delivery.api = ApiVersion(delivery.api)
            self.deliveries[delivery.id] = delivery
        self.attempts = [Attempt(**row) for row in p.load("attempt")]
        for row in p.load("meta"):
            self.meta[row["name"]] = row["value"]

    def _index_trade(self, trade: Trade) -> None:
        self.trades[trade.key] = trade
        self.prepays[trade.prepay_id] = trade.key
        if trade.transaction_id:
            self.transactions[trade.transaction_id] = trade.key

    def _index_refund(self, refund: SimRefund) -> None:
        if refund.key not in self.refunds:
            self.trade_refunds.setdefault(refund.trade_key, []).append(refund.key)
        self.refunds[refund.key] = refund
        self.refund_ids[refund.refund_id] = refund.key
        if refund.status is RefundStatus.PROCESSING:
            self.processing[refund.key] = None
        else:
            self.processing.pop(refund.key, None)

    # Writes: each one updates the indexes and the persistence layer together. A record is its
    # fields as they are (persistence serialises it at once): no deep copy as asdict would make.
    def save_code(self, code: LoginCode) -> None:
        self.codes[code.code] = code
        self._persistence.put("code", code.code, vars(code))

    def save_user(self, user: User) -> None:
        key = f"{user.appid}:{user.openid}"
        self.users[key] = user
        self._persistence.put("user", key, vars(user))

    def save_trade(self, trade: Trade) -> None:
        self._index_trade(trade)
        self._persistence.put("trade", trade.key, vars(trade))

    def save_trades(self, trades: list[Trade]) -> None:
        """Many at once (seeding): one write transaction."""
        for trade in trades:
            self._index_trade(trade)
        self._persistence.put_many("trade", [(t.key, vars(t)) for t in trades])

    def save_refund(self, refund: SimRefund) -> None:
        self._index_refund(refund)
        self._persistence.put("refund", refund.key, vars(refund))

    def save_delivery(self, delivery: Delivery) -> None:
        self.deliveries[delivery.id] = delivery
        self._persistence.put("delivery", delivery.id, vars(delivery))

    def add_attempt(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        key = f"{attempt.delivery_id}:{len(self.attempts)}"
        self._persistence.put("attempt", key, vars(attempt))

    def set_meta(self, name: str, value: Any) -> None:
        self.meta[name] = value
        self._persistence.put("meta", name, {"name": name, "value": value})

    # Reads
    def trade(self, mch_id: str, out_trade_no: str) -> Trade | None:
        return self.trades.get(f"{mch_id}:{out_trade_no}")

    def trade_by_prepay(self, prepay_id: str) -> Trade | None:
        key = self.prepays.get(prepay_id)
        return self.trades.get(key) if key else None

    def trade_by_transaction(self, transaction_id: str) -> Trade | None:
        key = self.transactions.get(transaction_id)
        return self.trades.get(key) if key else None

    def refund(self, mch_id: str, out_refund_no: str) -> SimRefund | None:
        return self.refunds.get(f"{mch_id}:{out_refund_no}")

    def refund_by_id(self, refund_id: str) -> SimRefund | None:
        key = self.refund_ids.get(refund_id)
        return self.refunds.get(key) if key else None

    def refunds_of(self, trade: Trade) -> list[SimRefund]:
        return [self.refunds[key] for key in self.trade_refunds.get(trade.key, ())]

    def processing_refunds(self) -> list[SimRefund]:
        return [self.refunds[key] for key in self.processing]

    def close(self) -> None:
        self._persistence.close()
