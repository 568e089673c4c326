"""The simulator's records and their in-memory indexes.

Every mutation goes through :class:`SimState` so that the persistence layer sees it. Handlers run
on one event loop and never await between reading and writing a record, so no locks are needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from silverpay.sim.persistence import Persistence

T = TypeVar("T")


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
    mch_id: str
    out_trade_no: str
    appid: str
    openid: str
    trade_type: str
    body: str
    total_fee: int
    fee_type: str
    attach: str
    notify_url: str
    business: dict[str, str]  # the fields a re-entrant unifiedorder must repeat exactly
    created_at: float
    time_expire: float | None
    sign_type: str
    prepay_id: str
    prepay_expires_at: float
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    time_end: str = ""
    bank_type: str = ""
    cash_fee: int = 0
    closed_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.mch_id}:{self.out_trade_no}"

    @property
    def api(self) -> str:
        """The API version of the last order call: a v3 order (paySign "RSA") notifies in v3 format."""
        return "v3" if self.sign_type == "RSA" else "v2"


@dataclass
class SimRefund:
    mch_id: str
    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    refund_id: str
    total_fee: int
    refund_fee: int
    refund_desc: str
    notify_url: str
    created_at: float
    due_at: float  # when the platform finishes processing it
    outcome: str  # what it will end as: SUCCESS, REFUNDCLOSE or CHANGE
    refund_status: str = "PROCESSING"
    success_time: float | None = None
    api: str = "v2"  # the API version that asked for it, and so the format of its notification

    @property
    def key(self) -> str:
        return f"{self.mch_id}:{self.out_refund_no}"


@dataclass
class Delivery:
    """One notification to deliver, with its retry position."""

    id: str
    kind: str  # "payment" or "refund"
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
    api: str = "v2"  # v3 deliveries are signed afresh at every attempt and acknowledged by status


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
            self._index_trade(Trade(**row))
        for row in p.load("refund"):
            refund = SimRefund(**row)
            self.refunds[refund.key] = refund
        for row in p.load("delivery"):
            self.deliveries[row["id"]] = Delivery(**row)
        self.attempts = [Attempt(**row) for row in p.load("attempt")]
        for row in p.load("meta"):
            self.meta[row["name"]] = row["value"]

    def _index_trade(self, trade: Trade) -> None:
        self.trades[trade.key] = trade
        self.prepays[trade.prepay_id] = trade.key
        if trade.transaction_id:
            self.transactions[trade.transaction_id] = trade.key

    # Writes: each one updates the index and the persistence layer together.
    def save_code(self, code: LoginCode) -> None:
        self.codes[code.code] = code
        self._persistence.put("code", code.code, asdict(code))

    def save_user(self, user: User) -> None:
        key = f"{user.appid}:{user.openid}"
        self.users[key] = user
        self._persistence.put("user", key, asdict(user))

    def save_trade(self, trade: Trade) -> None:
        self._index_trade(trade)
        self._persistence.put("trade", trade.key, asdict(trade))

    def save_refund(self, refund: SimRefund) -> None:
        self.refunds[refund.key] = refund
        self._persistence.put("refund", refund.key, asdict(refund))

    def refunds_of(self, trade: Trade) -> list[SimRefund]:
        return [r for r in self.refunds.values() if r.mch_id == trade.mch_id and r.out_trade_no == trade.out_trade_no]

    def save_delivery(self, delivery: Delivery) -> None:
        self.deliveries[delivery.id] = delivery
        self._persistence.put("delivery", delivery.id, asdict(delivery))

    def add_attempt(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        key = f"{attempt.delivery_id}:{len(self.attempts)}"
        self._persistence.put("attempt", key, asdict(attempt))

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

    def close(self) -> None:
        self._persistence.close()
