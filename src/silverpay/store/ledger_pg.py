"""The ledger on PostgreSQL, straight on asyncpg: the statements of :class:`~.ledger.CoreLedger`,
written out once, for the paths that run per notification.

Measured while building it: SQLAlchemy's async execution costs several times asyncpg's own per
statement, and borrowing an asyncpg connection through SQLAlchemy's pool costs more CPU than a
query; so the ledger keeps an asyncpg pool of its own.

Per transaction: BEGIN, one locking SELECT, one guarded UPDATE, one multi-row INSERT of its events,
COMMIT. A connection that died while idle (a server restart, a PgBouncer reload) is noticed at
BEGIN and replaced once, before any of the caller's work: no ping per checkout.
"""

# ruff: noqa: S608 - identifiers come only from COLUMNS (checked in _move_sql); values are always bound
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from silverpay.clock import utc
from silverpay.domain.orders import ALLOWED_FROM, OrderStatus
from silverpay.store.db import PoolSettings
from silverpay.store.ledger import (
    COLUMNS,
    LEASE_S,
    OPEN_VALUES,
    Due,
    LedgerTx,
    OrderRow,
    Settlement,
    TxBase,
    detail_json,
    minute_of,
    redact,
    release_groups,
    replacement,
    surplus_refund_no,
    surplus_refund_row,
)

APPLICATION_NAME = "silverpay-ledger"  # how an operator tells these connections apart in pg_stat_activity
_COLS = ", ".join(COLUMNS)
_TIME_COLUMNS = frozenset(
    {"expires_at", "prepay_expires_at", "wechat_created_at", "paid_at", "closed_at", "created_at", "updated_at",
     "next_check_at", "lease_until"}
)  # fmt: skip
_TIME_INDEXES = tuple(i for i, name in enumerate(COLUMNS) if name in _TIME_COLUMNS)
_LOCK_BY_ID = f"SELECT {_COLS} FROM orders WHERE id = $1 FOR UPDATE"
_LOCK_BY_NUMBER = f"SELECT {_COLS} FROM orders WHERE out_trade_no = $1 FOR UPDATE"
_LOCK_MANY = f"SELECT {_COLS} FROM orders WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
_GET = f"SELECT {_COLS} FROM orders WHERE id = $1"
_USER_EXISTS = "SELECT 1 FROM users WHERE id = $1"
_FLAG = "UPDATE orders SET needs_review = true, review_reason = $2, updated_at = $3 WHERE id = $1"
_ATTEMPT_ORDER = "SELECT order_id FROM payment_attempts WHERE out_trade_no = $1"
_ADD_ATTEMPT = (
    "INSERT INTO payment_attempts (order_id, out_trade_no, created_at, check_attempts) VALUES ($1, $2, $3, 0)"
)
_REPLACE_NUMBER = (
    "UPDATE orders SET out_trade_no = $3, prepay_id = NULL, prepay_expires_at = NULL, wechat_created_at = NULL, "
    "updated_at = $4 WHERE id = $1 AND out_trade_no = $2 AND status = ANY($5::text[])"
)
_SCHEDULE_CLOSE = "UPDATE payment_attempts SET close_at = $2 WHERE out_trade_no = $1 AND closed_at IS NULL"
_RECORD_REJECTION = (
    "INSERT INTO rejected_notifications (minute, kind, code, claimed, count, reason, first_at, last_at) "
    "VALUES ($1, $2, $3, COALESCE((SELECT out_trade_no FROM payment_attempts WHERE out_trade_no = $4), ''), 1, $5, "
    "$6, $6) "
    "ON CONFLICT (minute, kind, code, claimed) DO UPDATE SET count = rejected_notifications.count + 1, "
    "last_at = EXCLUDED.last_at"
)
# A payment notification's common case, one statement (one round trip, no BEGIN/COMMIT): lock the row,
# move it if open and of this amount, record the delivery and both events. Under READ COMMITTED a
# concurrent copy waits on the lock, then sees the PAID row and moves nothing. The UPDATE finds its row
# by primary key from the locked one (not by joining the CTE), so even a plan cached while the table
# was small stays an index lookup.
_SETTLE_AT_ONCE = """
WITH locked AS (
    SELECT id, status FROM orders WHERE out_trade_no = $1 FOR UPDATE
), moved AS (
    UPDATE orders SET status = 'PAID', transaction_id = $3, paid_at = $4, updated_at = $5, next_check_at = NULL
    WHERE id = (SELECT id FROM locked) AND (SELECT status FROM locked) = ANY($8::text[]) AND amount_fen = $2
    RETURNING id, out_trade_no, (SELECT status FROM locked) AS was
), delivered AS (
    INSERT INTO notification_deliveries (key, order_id, created_at)
    SELECT $7::text, id, $5 FROM moved WHERE $7::text IS NOT NULL
    ON CONFLICT DO NOTHING
), logged AS (
    INSERT INTO order_events (order_id, out_trade_no, kind, detail, created_at)
    SELECT id, out_trade_no, 'status', json_build_object('from', was, 'to', 'PAID', 'source', $9::text), $5
    FROM moved
    UNION ALL
    SELECT id, out_trade_no, 'wechat.notify', $6::json, $5 FROM moved
)
SELECT count(*) FROM moved
"""
_REFUND_EXISTS = "SELECT 1 FROM refunds WHERE out_refund_no = $1"
_REFUND_COLUMNS = tuple(surplus_refund_row(0, "", 0, "", datetime(2000, 1, 1, tzinfo=UTC)))
_ADD_REFUND = (f"INSERT INTO refunds ({', '.join(_REFUND_COLUMNS)}) "
               f"VALUES ({', '.join(f'${i}' for i in range(1, len(_REFUND_COLUMNS) + 1))})")  # fmt: skip
_DELIVERY = "INSERT INTO notification_deliveries (key, order_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
_RELEASE = ("UPDATE orders SET lease_until = $1, next_check_at = $2, check_attempts = check_attempts + $3 "
            "WHERE id = ANY($4::bigint[])")  # fmt: skip
_FREE = "(lease_until IS NULL OR lease_until < $1)"
_CLAIM = {
    Due.SWEEP: f"status = 'PAYING' AND next_check_at <= $1 AND expires_at > $1 AND {_FREE} ORDER BY next_check_at",
    Due.EXPIRY: f"status = ANY($4::text[]) AND expires_at <= $1 AND {_FREE} ORDER BY expires_at",
}
# The claim is one statement: lease the due rows no other worker holds, and return them.
_CLAIM_SQL = {
    due: f"UPDATE orders SET lease_until = $2 WHERE id IN (SELECT id FROM orders WHERE {where} LIMIT $3 "
    f"FOR UPDATE SKIP LOCKED) RETURNING {_COLS}"
    for due, where in _CLAIM.items()
}
# A connection that died while idle shows itself at its first statement, as one of these (a
# server's goodbye read while idle leaves asyncpg's protocol in a state it refuses to leave).
_DEAD = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError, OSError)


def _naive(value: Any) -> Any:
    """asyncpg writes ``timestamp without time zone`` from naive datetimes: UTC, as the ORM stores it."""
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


def _row(record: asyncpg.Record) -> OrderRow:
    values = list(record)
    for i in _TIME_INDEXES:
        if values[i] is not None:
            values[i] = values[i].replace(tzinfo=UTC)
    return OrderRow(*values)


@cache
def _move_sql(names: tuple[str, ...]) -> str:
    if not set(names) <= set(COLUMNS):
        raise ValueError(f"not columns of orders: {sorted(set(names) - set(COLUMNS))}")
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
    return f"UPDATE orders SET {assignments} WHERE id = $1 AND status = ANY($2::text[])"


@cache
def _insert_events_sql(count: int) -> str:
    rows = ", ".join(f"(${5 * i + 1}, ${5 * i + 2}, ${5 * i + 3}, ${5 * i + 4}, ${5 * i + 5})" for i in range(count))
    return f"INSERT INTO order_events (order_id, out_trade_no, kind, detail, created_at) VALUES {rows}"


_ALLOWED = {to: [s.value for s in ALLOWED_FROM[to]] for to in ALLOWED_FROM}


@dataclass
class PgTx(TxBase):
    conn: Any = None  # an asyncpg connection inside an open transaction

    async def _one(self, sql: str, *args: Any) -> OrderRow | None:
        record = await self.conn.fetchrow(sql, *args)
        return _row(record) if record is not None else None

    async def lock(self, order_id: int) -> OrderRow | None:
        return await self._one(_LOCK_BY_ID, order_id)

    async def lock_by_out_trade_no(self, out_trade_no: str) -> OrderRow | None:
        order = await self._one(_LOCK_BY_NUMBER, out_trade_no)
        if order is not None:
            return order
        earlier = await self.conn.fetchval(_ATTEMPT_ORDER, out_trade_no)  # an earlier attempt's number
        return await self.lock(earlier) if earlier is not None else None

    async def lock_many(self, order_ids: Sequence[int]) -> list[OrderRow]:
        if not order_ids:
            return []
        return [_row(r) for r in await self.conn.fetch(_LOCK_MANY, list(order_ids))]

    async def move(
        self, order: OrderRow, to: OrderStatus, *, now: datetime, source: str, **values: Any
    ) -> OrderRow | None:
        changes = self.move_values(to, now, values)
        names = tuple(changes)
        status = await self.conn.execute(_move_sql(names), order.id, _ALLOWED[to], *map(_naive, changes.values()))
        if status != "UPDATE 1":
            return None
        return self.moved(order, to, changes, now=now, source=source)

    async def flag(self, order: OrderRow, reason: str, *, now: datetime) -> OrderRow | None:
        changes = self.flag_values(order, reason, now)
        if changes is None:
            return None
        await self.conn.execute(_FLAG, order.id, changes["review_reason"], _naive(now))
        self.event(order, "review.flagged", {"reason": reason}, now=now)
        return order._replace(**changes)

    async def first_delivery(self, key: str, order_id: int, *, now: datetime) -> bool:
        return bool(await self.conn.execute(_DELIVERY, key, order_id, _naive(now)) == "INSERT 0 1")

    async def add_attempt(self, order_id: int, out_trade_no: str, *, now: datetime) -> None:
        await self.conn.execute(_ADD_ATTEMPT, order_id, out_trade_no, _naive(now))

    async def replace_number(
        self, order: OrderRow, out_trade_no: str, *, now: datetime, close_old_at: datetime
    ) -> OrderRow | None:
        status = await self.conn.execute(_REPLACE_NUMBER, order.id, order.out_trade_no, out_trade_no, _naive(now),
                                         OPEN_VALUES)  # fmt: skip
        if status != "UPDATE 1":
            return None
        await self.add_attempt(order.id, out_trade_no, now=now)
        await self.schedule_close(order.out_trade_no, at=close_old_at)
        return order._replace(**replacement(out_trade_no, now))

    async def schedule_close(self, out_trade_no: str, *, at: datetime | None) -> None:
        await self.conn.execute(_SCHEDULE_CLOSE, out_trade_no, _naive(at))

    async def record_rejection(self, kind: str, code: str, reason: str, claimed: str, *, now: datetime) -> None:
        await self.conn.execute(_RECORD_REJECTION, _naive(minute_of(now)), kind, code[:64], claimed[:64], reason[:255],
                                _naive(now))  # fmt: skip

    async def add_surplus_refund(
        self, order: OrderRow, out_trade_no: str, amount_fen: int, reason: str, *, now: datetime
    ) -> bool:
        if await self.conn.fetchval(_REFUND_EXISTS, surplus_refund_no(out_trade_no)) is not None:
            return False
        row = surplus_refund_row(order.id, out_trade_no, amount_fen, reason, now)
        await self.conn.execute(_ADD_REFUND, *map(_naive, row.values()))
        return True

    async def release(
        self, next_checks: Sequence[tuple[int, datetime | None]], *, attempts_increment: int = 1,
        hold_until: datetime | None = None,
    ) -> None:  # fmt: skip
        for next_check_at, ids in release_groups(next_checks).items():
            await self.conn.execute(_RELEASE, _naive(hold_until), _naive(next_check_at), attempts_increment, ids)

    async def flush(self) -> None:
        if not self.events:
            return
        args: list[Any] = []
        for e in self.events:
            args += (e.order_id, e.out_trade_no, e.kind, detail_json(e.detail), _naive(e.created_at))
        count = len(self.events)
        self.events = []
        await self.conn.execute(_insert_events_sql(count), *args)


async def _no_reset(_: asyncpg.Connection) -> None:
    """Released connections need no RESET ALL round trip: every transaction here ends itself and
    the ledger sets no session state."""


class PgLedger:
    def __init__(self, pool: asyncpg.Pool, *, pgbouncer: bool = False) -> None:
        self._pool = pool
        self._pgbouncer = pgbouncer

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, settings: PoolSettings) -> AsyncIterator[PgLedger]:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        cache_size = 0 if settings.pgbouncer else 100
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=settings.size, max_inactive_connection_lifetime=settings.recycle_s,
            statement_cache_size=cache_size, reset=_no_reset, server_settings={"application_name": APPLICATION_NAME},
        )  # fmt: skip
        try:
            yield cls(pool, pgbouncer=settings.pgbouncer)
        finally:
            await pool.close()

    @contextlib.asynccontextmanager
    async def _begun(self) -> AsyncIterator[Any]:
        """A pooled connection inside BEGIN; one found dead at BEGIN is dropped and replaced once.
        The connection goes back to the pool whatever happens, cancellation included."""
        for attempt in (1, 2):
            conn = await self._pool.acquire()
            try:
                transaction = conn.transaction()
                try:
                    await transaction.start()
                except _DEAD:
                    # The pool replaces a closed connection; asyncpg may already have released the
                    # proxy when it saw the socket close, and then there is nothing left to terminate.
                    with contextlib.suppress(asyncpg.InterfaceError):
                        conn.terminate()
                    if attempt == 2:
                        raise
                    continue
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(*_DEAD, asyncpg.PostgresError):
                        await transaction.rollback()
                    raise
                await transaction.commit()
                return
            finally:
                await self._pool.release(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[LedgerTx]:
        async with self._begun() as conn:
            tx = PgTx(conn=conn)
            yield tx
            await tx.flush()
            tx.conn = None

    async def settle_at_once(self, payment: Settlement) -> bool:
        args = (payment.out_trade_no, payment.amount_fen, payment.transaction_id, _naive(payment.paid_at),
                _naive(payment.now), detail_json(redact(payment.notify_detail)), payment.delivery_key,
                _ALLOWED[OrderStatus.PAID], payment.source)  # fmt: skip
        for attempt in (1, 2):  # a dead connection is replaced once, as at BEGIN: nothing ran
            try:
                async with self._pool.acquire() as conn:
                    return bool(await conn.fetchval(_SETTLE_AT_ONCE, *args))
            except _DEAD:
                if attempt == 2:
                    raise
        return False

    async def get(self, order_id: int) -> OrderRow | None:
        if self._pgbouncer:  # in a transaction: behind PgBouncer a bare statement may change server
            async with self._begun() as conn:
                record = await conn.fetchrow(_GET, order_id)
        else:
            record = await self._fetch_once(_GET, order_id)
        return _row(record) if record is not None else None

    async def user_exists(self, user_id: int) -> bool:
        if self._pgbouncer:
            async with self._begun() as conn:
                return await conn.fetchval(_USER_EXISTS, user_id) is not None
        return await self._fetch_once(_USER_EXISTS, user_id) is not None

    async def _fetch_once(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """One read outside a transaction, on a fresh connection if the first was dead."""
        for attempt in (1, 2):
            try:
                async with self._pool.acquire() as conn:
                    return await conn.fetchrow(sql, *args)
            except _DEAD:
                if attempt == 2:
                    raise
        return None

    async def claim(self, due: Due, *, now: float, limit: int) -> list[OrderRow]:
        at = _naive(utc(now))
        args: list[Any] = [at, at + timedelta(seconds=LEASE_S), limit]
        if due is Due.EXPIRY:
            args.append(OPEN_VALUES)
        async with self._begun() as conn:
            return [_row(r) for r in await conn.fetch(_CLAIM_SQL[due], *args)]
