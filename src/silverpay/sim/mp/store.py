"""The mini-program platform's records: tokens, shipments, app settings, reminders and timers.

Kept like :class:`~silverpay.sim.state.SimState`'s: every write goes through :class:`MpState` so
the optional SQLite file sees it; records are flat JSON-able dataclasses. The timers (auto-confirm,
settlement, the 48-hour reminder) are a heap rebuilt from the records at start, so a timer's truth
is its record and a stale heap entry is simply skipped when it falls due.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from silverpay.sim.persistence import Persistence


@dataclass
class IssuedToken:
    value: str = field(repr=False)
    appid: str
    family: str  # "stable" (getStableAccessToken) or "legacy" (getAccessToken): isolated from each other
    issued_at: float
    expires_at: float
    revoked: bool = False  # force_refresh (stable) invalidates at once


@dataclass
class TokenFamily:
    """One appid's tokens of one family: the current one, the one it replaced (valid until it
    expires: the 5-minute overlap) and the force-refresh quota."""

    appid: str
    family: str
    current: str = field(default="", repr=False)
    previous: str = field(default="", repr=False)
    force_day: str = ""  # Beijing yyyymmdd the count is for
    force_count: int = 0
    last_force_at: float | None = None

    @property
    def key(self) -> str:
        return f"{self.appid}:{self.family}"


@dataclass
class AppSettings:
    """Per mini-program: shipping management and its message-push configuration (the console's
    开发设置 > 消息推送). Without a push URL nothing is pushed."""

    appid: str
    trade_managed: bool = True
    push_url: str = ""
    push_token: str = field(default="", repr=False)
    push_aes_key: str = field(default="", repr=False)  # EncodingAESKey, 43 characters
    push_mode: str = "plain"  # plain | safe
    push_format: str = "json"  # json | xml
    original_id: str = ""  # gh_…: ToUserName of every push
    shipped_before: bool = False  # decides remind_shipping (has shipped) vs remind_access_api (never)
    access_api_reminded: bool = False


@dataclass
class Shipment:
    """What a payment's shipping is at the platform (get_order's ``shipping``, and beyond)."""

    trade_key: str  # Trade.key: mch_id:out_trade_no
    appid: str
    logistics_type: int
    delivery_mode: int
    is_all_delivered: bool | None
    parcels: list[dict[str, Any]]  # tracking_no, express_company, item_desc, contact{…}, upload_time
    upload_time: float  # the latest accepted upload's upload_time
    uploads: int = 1
    finished_at: float | None = None  # when shipping last became complete (simulated clock)
    finish_count: int = 0  # 0, 1, 2: complete shippings (the second one is the re-ship)
    reship_used: bool = False
    confirm_reminded_at: float | None = None  # notify_confirm_receive (once)
    received_time: float | None = None  # what that call said the carrier delivered at
    confirmed_at: float | None = None
    confirm_method: int | None = None  # 1 auto, 2 manual (the doc's numbering)
    auto_confirm_at: float | None = None
    settle_at: float | None = None
    settled_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass
class Reminder:
    """A payment to remind about if it is still unshipped 48 hours after it was paid."""

    trade_key: str
    appid: str
    due_at: float
    done: bool = False


class MpState:
    def __init__(self, persistence: Persistence) -> None:
        self._persistence = persistence
        self.tokens: dict[str, IssuedToken] = {}
        self.families: dict[str, TokenFamily] = {}
        self.apps: dict[str, AppSettings] = {}
        self.shipments: dict[str, Shipment] = {}
        self.reminders: dict[str, Reminder] = {}
        self._timers: list[tuple[float, int, str, str]] = []  # (due, seq, kind, trade_key)
        self._scheduled: dict[tuple[str, str], float] = {}  # the latest due time per (kind, trade_key)
        self._seq = 0
        for row in persistence.load("mp_token"):
            token = IssuedToken(**row)
            self.tokens[token.value] = token
        for row in persistence.load("mp_token_family"):
            family = TokenFamily(**row)
            self.families[family.key] = family
        for row in persistence.load("mp_app"):
            self.apps[row["appid"]] = AppSettings(**row)
        for row in persistence.load("mp_shipment"):
            self._index_shipment(Shipment(**row))
        for row in persistence.load("mp_reminder"):
            self._index_reminder(Reminder(**row))

    # Timers ------------------------------------------------------------------------------------

    def schedule(self, due: float, kind: str, trade_key: str) -> None:
        if self._scheduled.get((kind, trade_key)) == due:
            return
        self._scheduled[(kind, trade_key)] = due
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, kind, trade_key))

    def due_timers(self, now: float) -> list[tuple[str, str]]:
        """Pop every timer due by ``now``, earliest first: ``(kind, trade_key)``."""
        due = []
        while self._timers and self._timers[0][0] <= now:
            when, _, kind, key = heapq.heappop(self._timers)
            if self._scheduled.get((kind, key)) == when:
                del self._scheduled[(kind, key)]
                due.append((kind, key))
        return due

    def _index_shipment(self, shipment: Shipment) -> None:
        self.shipments[shipment.trade_key] = shipment
        if shipment.auto_confirm_at is not None and shipment.confirmed_at is None:
            self.schedule(shipment.auto_confirm_at, "auto_confirm", shipment.trade_key)
        if shipment.settle_at is not None and shipment.settled_at is None:
            self.schedule(shipment.settle_at, "settle", shipment.trade_key)

    def _index_reminder(self, reminder: Reminder) -> None:
        self.reminders[reminder.trade_key] = reminder
        if not reminder.done:
            self.schedule(reminder.due_at, "remind", reminder.trade_key)

    # Writes ------------------------------------------------------------------------------------

    def save_token(self, token: IssuedToken) -> None:
        self.tokens[token.value] = token
        self._persistence.put("mp_token", token.value, vars(token))

    def save_family(self, family: TokenFamily) -> None:
        self.families[family.key] = family
        self._persistence.put("mp_token_family", family.key, vars(family))

    def save_app(self, app: AppSettings) -> None:
        self.apps[app.appid] = app
        self._persistence.put("mp_app", app.appid, vars(app))

    def save_shipment(self, shipment: Shipment) -> None:
        """Store it; (re)schedule its timers (a stale entry left in the heap is skipped when due)."""
        self._index_shipment(shipment)
        self._persistence.put("mp_shipment", shipment.trade_key, vars(shipment))

    def save_reminder(self, reminder: Reminder) -> None:
        known = reminder.trade_key in self.reminders
        self.reminders[reminder.trade_key] = reminder
        if not known and not reminder.done:
            self.schedule(reminder.due_at, "remind", reminder.trade_key)
        self._persistence.put("mp_reminder", reminder.trade_key, vars(reminder))

    # Reads -------------------------------------------------------------------------------------

    def app(self, appid: str) -> AppSettings:
        return self.apps.get(appid) or AppSettings(appid)
