"""Engines and sessions, plus the per-backend settings that make guarded transactions work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from silverpay.errors import ConfigError

SUPPORTED = ("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql", "mysql+asyncmy", "mariadb+aiomysql")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
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
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


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
