"""Engines, pools and sessions, plus the per-backend settings that make guarded transactions work.

One :class:`Database` per process: SQLAlchemy's engine (the ORM for the cold paths, Core for the
ledger on SQLite and MariaDB) and, on PostgreSQL, an asyncpg pool for the ledger's hot paths.
Pools hold at most ``pool_size`` connections each, opened as needed and kept (no overflow, so no
churn under steady load), recycled after ``recycle_s``; no ping per checkout: a connection found
dead is replaced, at BEGIN for the ledger (see :mod:`.ledger_pg`), by the pool's invalidation for
the ORM.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from silverpay.errors import ConfigError
from silverpay.store.ledger import CoreLedger, Ledger

SUPPORTED = ("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql", "mysql+asyncmy", "mariadb+aiomysql")
DEFAULT_POOL_SIZE = 10
DEFAULT_RECYCLE_S = 1800


@dataclass(frozen=True)
class PoolSettings:
    size: int = DEFAULT_POOL_SIZE
    recycle_s: int = DEFAULT_RECYCLE_S
    # PgBouncer in transaction mode: a statement may reach another server connection than the one
    # that prepared it, so nothing is prepared under a reusable name (asyncpg's documented way).
    pgbouncer: bool = False


def create_engine(url: str, pool: PoolSettings | None = None, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    pool = pool or PoolSettings()
    # Database errors must not print their bound values into logs: a users row holds the session_key.
    kwargs.setdefault("hide_parameters", True)
    if parsed.drivername not in SUPPORTED:
        raise ConfigError(f"unsupported database driver {parsed.drivername!r}; use one of {', '.join(SUPPORTED)}")
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _serialise_sqlite_writers(engine)
        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        # InnoDB's default REPEATABLE READ would let a plain SELECT after a row lock read a snapshot taken
        # before the wait (a refund sum missing a refund committed meanwhile); PostgreSQL's default is this.
        kwargs.setdefault("isolation_level", "READ COMMITTED")
    if parsed.get_backend_name() == "postgresql" and pool.pgbouncer:
        kwargs.setdefault("connect_args", {}).update(
            statement_cache_size=0, prepared_statement_cache_size=0,
            prepared_statement_name_func=lambda: f"__silverpay_{uuid.uuid4()}__",
        )  # fmt: skip
    return create_async_engine(url, pool_size=pool.size, max_overflow=0, pool_recycle=pool.recycle_s, **kwargs)


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """Every SQLite transaction starts with BEGIN IMMEDIATE (the SQLAlchemy-documented recipe).

    A deferred transaction that reads and then writes can fail with SQLITE_BUSY when another
    process wrote in between; taking the write lock up front makes concurrent API processes
    queue instead (busy timeout 30 s), which is what the guarded transitions rely on.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    ledger: Ledger


@contextlib.asynccontextmanager
async def open_database(url: str, pool: PoolSettings | None = None) -> AsyncIterator[Database]:
    pool = pool or PoolSettings()
    engine = create_engine(url, pool)
    try:
        ledger: Ledger
        if engine.dialect.name == "postgresql":
            from silverpay.store.ledger_pg import PgLedger  # asyncpg is imported only where it is used

            async with PgLedger.open(url, pool) as pg:
                yield Database(engine, session_factory(engine), pg)
            return
        ledger = CoreLedger(engine)
        yield Database(engine, session_factory(engine), ledger)
    finally:
        await engine.dispose()
