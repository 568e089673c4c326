"""The order ledger: every change of an order's payment state, as short guarded transactions.

This is the hot path (notifications, confirms, the sweeper, expiry), so it does not use the ORM:
:class:`CoreLedger` runs SQLAlchemy Core statements built once, on any backend;
:mod:`silverpay.store.ledger_pg` runs the same statements straight on asyncpg. Both implement
:class:`LedgerTx`, and one contract test suite runs them both.

Inside :meth:`Ledger.transaction` the caller locks the order row (``SELECT … FOR UPDATE``; on
SQLite every transaction is ``BEGIN IMMEDIATE``), decides with the pure rules of
:mod:`silverpay.domain.orders`, and moves the order with an ``UPDATE … WHERE status IN (…)`` that
re-checks the state. Events are buffered and written in one multi-row INSERT just before COMMIT, so
the change and its record land together or not at all. The new row is computed, never re-read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Select, Table, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from silverpay.clock import utc
from silverpay.domain.orders import ALLOWED_FROM, OPEN, OrderStatus
from silverpay.store.models import (
    NotificationDelivery,
    Order,
    OrderEvent,
    PaymentAttempt,
    Refund,
    RejectedNotification,
    User,
)

# Fields of WeChat messages that must never reach the event log.
REDACTED = frozenset({"sign", "paySign", "session_key", "api_key", "key", "token", "nonce_str", "nonceStr"})


def redact(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if k in REDACTED else v) for k, v in detail.items()}


class OrderRow(NamedTuple):
    """One order as stored: every column of ``orders``, in table order."""

    id: int
    out_trade_no: str
    user_id: int
    product_id: int | None
    quantity: int
    amount_fen: int
    description: str
    status: str
    client_ip: str
    expires_at: datetime
    prepay_id: str | None
    prepay_expires_at: datetime | None
    wechat_created_at: datetime | None
    transaction_id: str | None
    paid_at: datetime | None
    closed_at: datetime | None
    needs_review: bool
    review_reason: str
    created_at: datetime
    updated_at: datetime
    next_check_at: datetime | None
    check_attempts: int
    lease_until: datetime | None


COLUMNS = OrderRow._fields
SURPLUS_REFUND_PREFIX = "SR"  # + the out_trade_no of the payment it returns: one refund per surplus payment


def surplus_refund_no(out_trade_no: str) -> str:
    return SURPLUS_REFUND_PREFIX + out_trade_no


def surplus_refund_row(order_id: int, out_trade_no: str, amount_fen: int, reason: str, now: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id, "out_trade_no": out_trade_no, "surplus": True,
        "out_refund_no": surplus_refund_no(out_trade_no), "amount_fen": amount_fen, "reason": reason[:80],
        "status": "PROCESSING", "accepted": False, "refund_id": None, "request_key": None, "request_hash": "",
        "created_at": now, "updated_at": now, "succeeded_at": None, "next_check_at": now, "check_attempts": 0,
        "lease_until": None,
    }  # fmt: skip


REVIEW_REASON_MAX = 255
LEASE_S = 120  # longer than any WeChat call with its retries; a dead worker's rows come back after it
OPEN_VALUES = [s.value for s in OPEN]


class Named(Protocol):
    """An order as a ledger row or an ORM object: what an event is filed under."""

    @property
    def id(self) -> int: ...
    @property
    def out_trade_no(self) -> str: ...


@dataclass(frozen=True)
class Settlement:
    """A verified payment to settle at once (see :meth:`Ledger.settle_at_once`)."""

    out_trade_no: str
    amount_fen: int
    transaction_id: str | None
    paid_at: datetime
    now: datetime
    source: str
    notify_detail: dict[str, Any]  # the notification's own event, outcome included
    delivery_key: str | None = None


@dataclass
class PendingEvent:
    order_id: int | None
    out_trade_no: str
    kind: str
    detail: dict[str, Any]
    created_at: datetime


class LedgerTx(Protocol):
    """One open transaction on the ledger."""

    async def lock(self, order_id: int) -> OrderRow | None: ...

    async def lock_by_out_trade_no(self, out_trade_no: str) -> OrderRow | None: ...

    async def lock_many(self, order_ids: Sequence[int]) -> list[OrderRow]:
        """Rows locked in id order (one lock order everywhere: no deadlocks between batches)."""
        ...

    async def move(
        self, order: OrderRow, to: OrderStatus, *, now: datetime, source: str, **values: Any
    ) -> OrderRow | None:
        """Move a locked ``order`` to ``to`` if its state allows; the new row, or None. Records a
        status event when the status changes."""
        ...

    async def flag(self, order: OrderRow, reason: str, *, now: datetime) -> OrderRow | None:
        """Flag for an operator; None when it already carries this very reason (a retry)."""
        ...

    async def first_delivery(self, key: str, order_id: int, *, now: datetime) -> bool:
        """Record a notification delivery; False when it was recorded before (a replay)."""
        ...

    async def add_attempt(self, order_id: int, out_trade_no: str, *, now: datetime) -> None:
        """Record a number the order uses at WeChat (every one, so each keeps leading to its order)."""
        ...

    async def replace_number(
        self, order: OrderRow, out_trade_no: str, *, now: datetime, close_old_at: datetime
    ) -> OrderRow | None:
        """Give a still-open order a new number at WeChat (its old one is taken with other parameters):
        the new attempt recorded, the old one to be closed at WeChat from ``close_old_at``. None if
        the order is no longer open under its old number."""
        ...

    async def schedule_close(self, out_trade_no: str, *, at: datetime | None) -> None:
        """Have the worker close this number at WeChat from ``at`` (WeChat ignores a close before
        a trade is 5 minutes old), unless it was closed already; None: not any more (it paid)."""
        ...

    async def record_rejection(self, kind: str, code: str, reason: str, claimed: str, *, now: datetime) -> None:
        """Count a notification that was not genuinely ours (see :class:`~.models.RejectedNotification`)."""
        ...

    async def add_surplus_refund(
        self, order: OrderRow, out_trade_no: str, amount_fen: int, reason: str, *, now: datetime
    ) -> bool:
        """Queue the refund of a payment the order did not need (the worker submits it); False when
        that payment's refund exists already. Its number derives from the payment's, so WeChat
        refunds it once whatever happens here."""
        ...

    def event(
        self, order: Named | None, kind: str, detail: dict[str, Any], *, now: datetime, out_trade_no: str = ""
    ) -> None:
        """Buffer an event; written with the transaction's other events just before COMMIT."""
        ...

    async def release(
        self, next_checks: Sequence[tuple[int, datetime | None]], *, attempts_increment: int = 1,
        hold_until: datetime | None = None,
    ) -> None:  # fmt: skip
        """Give claimed orders back: each due again at its time (None: nothing more to ask),
        ``check_attempts`` bumped; ``hold_until`` keeps the lease that long instead (a job whose
        claim does not look at ``next_check_at``)."""
        ...


class Due(StrEnum):
    """Background work on orders, claimed by one worker at a time (lease + SKIP LOCKED)."""

    SWEEP = "sweep"  # PAYING, next check due, not expired: ask WeChat
    EXPIRY = "expiry"  # unpaid past expires_at: close at WeChat, then here


class Ledger(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[LedgerTx]: ...

    async def settle_at_once(self, payment: Settlement) -> bool:
        """The common case of a payment notification in one statement, where the database can do it
        (PostgreSQL): the order under this very number, open, of this amount, becomes PAID with its two
        events (and the delivery recorded) — exactly what ``decide`` answers SETTLE for. False when
        anything else holds, or the backend cannot: the caller then takes the general path."""
        ...

    async def get(self, order_id: int) -> OrderRow | None:
        """The order as committed now, unlocked (what a caller reads before deciding to act)."""
        ...

    async def claim(self, due: Due, *, now: float, limit: int) -> list[OrderRow]:
        """Up to ``limit`` due orders, leased to the caller for :data:`LEASE_S`."""
        ...

    async def user_exists(self, user_id: int) -> bool:
        """Whether a token's user is still there (every authenticated request asks: one indexed read)."""
        ...


@dataclass
class TxBase:
    """What both implementations share: the event buffer and the values a move writes."""

    events: list[PendingEvent] = field(default_factory=list)

    def event(
        self, order: Named | None, kind: str, detail: dict[str, Any], *, now: datetime, out_trade_no: str = ""
    ) -> None:
        number = order.out_trade_no if order is not None else out_trade_no[:64]
        self.events.append(PendingEvent(order.id if order else None, number, kind, redact(detail), now))

    @staticmethod
    def move_values(to: OrderStatus, now: datetime, values: dict[str, Any]) -> dict[str, Any]:
        changes = {"status": to.value, "updated_at": now, **values}
        if to.terminal:
            changes.setdefault("next_check_at", None)  # settled: nothing left for the sweeper to ask
        return changes

    def moved(
        self, order: OrderRow, to: OrderStatus, changes: dict[str, Any], *, now: datetime, source: str
    ) -> OrderRow:
        if order.status != to.value:
            self.event(order, "status", {"from": order.status, "to": to.value, "source": source}, now=now)
        return order._replace(**changes)

    @staticmethod
    def flag_values(order: OrderRow, reason: str, now: datetime) -> dict[str, Any] | None:
        reason = reason[:REVIEW_REASON_MAX]
        if order.needs_review and order.review_reason == reason:
            return None
        return {"needs_review": True, "review_reason": reason, "updated_at": now}


def _row(values: Sequence[Any]) -> OrderRow:
    return OrderRow(*values)


# SQLAlchemy Core: any backend ---------------------------------------------------------------------

_orders: Table = Order.__table__  # type: ignore[assignment]
_events: Table = OrderEvent.__table__  # type: ignore[assignment]
_deliveries: Table = NotificationDelivery.__table__  # type: ignore[assignment]
_attempts: Table = PaymentAttempt.__table__  # type: ignore[assignment]
_rejections: Table = RejectedNotification.__table__  # type: ignore[assignment]
_refunds: Table = Refund.__table__  # type: ignore[assignment]
_USER_EXISTS = select(User.__table__.c.id).where(User.__table__.c.id == bindparam("id"))
_ATTEMPT_ORDER = select(_attempts.c.order_id).where(_attempts.c.out_trade_no == bindparam("no"))
_SELECT: Select[Any] = select(*(_orders.c[name] for name in COLUMNS))
_LOCK_BY_ID = _SELECT.where(_orders.c.id == bindparam("id")).with_for_update()
_LOCK_BY_NUMBER = _SELECT.where(_orders.c.out_trade_no == bindparam("no")).with_for_update()
_LOCK_MANY = _SELECT.where(_orders.c.id.in_(bindparam("ids", expanding=True))).order_by(_orders.c.id).with_for_update()
_INSERT_EVENTS = insert(_events)
_GET = _SELECT.where(_orders.c.id == bindparam("id"))


def due_conditions(due: Due, now: datetime) -> tuple[list[ColumnElement[bool]], Any]:
    """What makes an order due for ``due``, and the order to take them in."""
    free = or_(_orders.c.lease_until.is_(None), _orders.c.lease_until < now)
    if due is Due.SWEEP:
        conditions = [_orders.c.status == OrderStatus.PAYING.value, _orders.c.next_check_at <= now,
                      _orders.c.expires_at > now, free]  # fmt: skip
        return conditions, _orders.c.next_check_at
    return [_orders.c.status.in_(OPEN_VALUES), _orders.c.expires_at <= now, free], _orders.c.expires_at


def replacement(out_trade_no: str, now: datetime) -> dict[str, Any]:
    """An order's columns once it moves to a new number: no prepay, no WeChat age, yet."""
    return {"out_trade_no": out_trade_no, "prepay_id": None, "prepay_expires_at": None, "wechat_created_at": None,
            "updated_at": now}  # fmt: skip


def minute_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def release_groups(next_checks: Sequence[tuple[int, datetime | None]]) -> dict[datetime | None, list[int]]:
    """Orders released together share one UPDATE per next-check time."""
    groups: dict[datetime | None, list[int]] = {}
    for order_id, next_check_at in next_checks:
        groups.setdefault(next_check_at, []).append(order_id)
    return groups


@dataclass
class CoreTx(TxBase):
    conn: AsyncConnection | None = None

    @property
    def _c(self) -> AsyncConnection:
        if self.conn is None:
            raise RuntimeError("transaction is closed")
        return self.conn

    async def _one(self, statement: Any, params: dict[str, Any]) -> OrderRow | None:
        row = (await self._c.execute(statement, params)).first()
        return _row(row) if row is not None else None

    async def lock(self, order_id: int) -> OrderRow | None:
        return await self._one(_LOCK_BY_ID, {"id": order_id})

    async def lock_by_out_trade_no(self, out_trade_no: str) -> OrderRow | None:
        order = await self._one(_LOCK_BY_NUMBER, {"no": out_trade_no})
        if order is not None:
            return order
        earlier = (await self._c.execute(_ATTEMPT_ORDER, {"no": out_trade_no})).scalar()  # an earlier attempt's
        return await self.lock(earlier) if earlier is not None else None

    async def lock_many(self, order_ids: Sequence[int]) -> list[OrderRow]:
        if not order_ids:
            return []
        return [_row(r) for r in await self._c.execute(_LOCK_MANY, {"ids": list(order_ids)})]

    async def move(
        self, order: OrderRow, to: OrderStatus, *, now: datetime, source: str, **values: Any
    ) -> OrderRow | None:
        changes = self.move_values(to, now, values)
        allowed = [s.value for s in ALLOWED_FROM[to]]
        statement = update(_orders).where(_orders.c.id == order.id, _orders.c.status.in_(allowed)).values(**changes)
        if (await self._c.execute(statement)).rowcount != 1:
            return None
        return self.moved(order, to, changes, now=now, source=source)

    async def flag(self, order: OrderRow, reason: str, *, now: datetime) -> OrderRow | None:
        changes = self.flag_values(order, reason, now)
        if changes is None:
            return None
        await self._c.execute(update(_orders).where(_orders.c.id == order.id).values(**changes))
        self.event(order, "review.flagged", {"reason": reason}, now=now)
        return order._replace(**changes)

    async def first_delivery(self, key: str, order_id: int, *, now: datetime) -> bool:
        table = _deliveries
        # Called under the order's row lock: a concurrent copy of this delivery waits, then sees ours.
        if (await self._c.execute(select(table.c.key).where(table.c.key == key))).first() is not None:
            return False
        await self._c.execute(insert(table).values(key=key, order_id=order_id, created_at=now))
        return True

    async def add_attempt(self, order_id: int, out_trade_no: str, *, now: datetime) -> None:
        await self._c.execute(
            insert(_attempts).values(order_id=order_id, out_trade_no=out_trade_no, created_at=now, check_attempts=0)
        )

    async def replace_number(
        self, order: OrderRow, out_trade_no: str, *, now: datetime, close_old_at: datetime
    ) -> OrderRow | None:
        changes = replacement(out_trade_no, now)
        guard = (
            _orders.c.id == order.id,
            _orders.c.out_trade_no == order.out_trade_no,
            _orders.c.status.in_(OPEN_VALUES),
        )
        if (await self._c.execute(update(_orders).where(*guard).values(**changes))).rowcount != 1:
            return None
        await self.add_attempt(order.id, out_trade_no, now=now)
        await self.schedule_close(order.out_trade_no, at=close_old_at)
        return order._replace(**changes)

    async def schedule_close(self, out_trade_no: str, *, at: datetime | None) -> None:
        attempt = _attempts.c
        await self._c.execute(
            update(_attempts)
            .where(attempt.out_trade_no == out_trade_no, attempt.closed_at.is_(None))
            .values(close_at=at)
        )

    async def record_rejection(self, kind: str, code: str, reason: str, claimed: str, *, now: datetime) -> None:
        if claimed and (await self._c.execute(_ATTEMPT_ORDER, {"no": claimed})).first() is None:
            claimed = ""  # not a number of ours: counted with the rest of the minute's
        r = _rejections.c
        key = (r.minute == minute_of(now), r.kind == kind, r.code == code[:64], r.claimed == claimed[:64])
        bump = update(_rejections).where(*key).values(count=r.count + 1, last_at=now)
        if (await self._c.execute(bump)).rowcount:
            return
        try:
            async with self._c.begin_nested():  # a concurrent first of the minute may insert it too
                await self._c.execute(insert(_rejections).values(
                    minute=minute_of(now), kind=kind, code=code[:64], claimed=claimed[:64], count=1,
                    reason=reason[:255], first_at=now, last_at=now,
                ))  # fmt: skip
        except IntegrityError:
            await self._c.execute(bump)

    async def add_surplus_refund(
        self, order: OrderRow, out_trade_no: str, amount_fen: int, reason: str, *, now: datetime
    ) -> bool:
        number = surplus_refund_no(out_trade_no)
        if (await self._c.execute(select(_refunds.c.id).where(_refunds.c.out_refund_no == number))).first():
            return False
        await self._c.execute(
            insert(_refunds).values(**surplus_refund_row(order.id, out_trade_no, amount_fen, reason, now))
        )
        return True

    async def release(
        self, next_checks: Sequence[tuple[int, datetime | None]], *, attempts_increment: int = 1,
        hold_until: datetime | None = None,
    ) -> None:  # fmt: skip
        for next_check_at, ids in release_groups(next_checks).items():
            await self._c.execute(
                update(_orders).where(_orders.c.id.in_(ids)).values(
                    lease_until=hold_until, next_check_at=next_check_at,
                    check_attempts=_orders.c.check_attempts + attempts_increment,
                )
            )  # fmt: skip

    async def flush(self) -> None:
        if self.events:
            rows = [e.__dict__ for e in self.events]
            self.events = []
            await self._c.execute(_INSERT_EVENTS, rows)


class CoreLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[LedgerTx]:
        async with self._engine.begin() as conn:
            tx = CoreTx(conn=conn)
            yield tx
            await tx.flush()
            tx.conn = None

    async def settle_at_once(self, payment: Settlement) -> bool:
        return False  # one statement needs data-modifying CTEs: the general path is as fast here

    async def get(self, order_id: int) -> OrderRow | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_GET, {"id": order_id})).first()
        return _row(row) if row is not None else None

    async def claim(self, due: Due, *, now: float, limit: int) -> list[OrderRow]:
        at = utc(now)
        conditions, order_by = due_conditions(due, at)
        # SQLite ignores SKIP LOCKED: there BEGIN IMMEDIATE serialises claims.
        query = _SELECT.where(*conditions).order_by(order_by).limit(limit).with_for_update(skip_locked=True)
        async with self._engine.begin() as conn:
            rows = [_row(r) for r in await conn.execute(query)]
            if rows:
                lease = at + timedelta(seconds=LEASE_S)
                ids = [r.id for r in rows]
                await conn.execute(update(_orders).where(_orders.c.id.in_(ids)).values(lease_until=lease))
        return rows

    async def user_exists(self, user_id: int) -> bool:
        async with self._engine.connect() as conn:
            return (await conn.execute(_USER_EXISTS, {"id": user_id})).first() is not None

    @staticmethod
    @contextlib.asynccontextmanager
    async def joining(conn: AsyncConnection) -> AsyncIterator[LedgerTx]:
        """The ledger inside a transaction the caller owns (an ORM session's connection)."""
        tx = CoreTx(conn=conn)
        yield tx
        await tx.flush()
        tx.conn = None


def detail_json(detail: dict[str, Any]) -> str:
    """Events' JSON as SQLAlchemy's JSON type writes it, for drivers fed directly."""
    return json.dumps(detail)


__all__ = [
    "COLUMNS",
    "LEASE_S",
    "CoreLedger",
    "Due",
    "Ledger",
    "LedgerTx",
    "OrderRow",
    "Settlement",
    "detail_json",
    "redact",
]
