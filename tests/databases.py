"""Databases for tests: SQLite always, PostgreSQL and MariaDB when CI (or you) point
SILVERPAY_TEST_POSTGRES_URL / SILVERPAY_TEST_MYSQL_URL at a server.

``database_url`` gives every test an empty, migrated database of its backend: one database per
backend (and per pytest-xdist worker: names are random) is created and migrated once per run, and
emptied (every table but Alembic's) before each test that uses it, which costs milliseconds where a
new database and its migrations would cost a second (two on MariaDB). ``make_database`` makes a
brand-new one for tests that need to watch migrations, or processes that share one database for a
module. All are dropped at the end of the run.

PostgreSQL test databases commit without waiting for the WAL flush (``synchronous_commit = off``,
set on the database): nothing here survives a server crash, and a commit costs no fsync."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from silverpay.store.db import create_engine
from silverpay.store.migrate import upgrade
from silverpay.store.models import Base

BACKENDS = ("sqlite", "postgresql", "mysql")
URL_VARIABLES = {"postgresql": "SILVERPAY_TEST_POSTGRES_URL", "mysql": "SILVERPAY_TEST_MYSQL_URL"}


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _drop_statement(backend: str, name: str) -> str:
    return f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if backend == "postgresql" else "")


@pytest.fixture(scope="session")
def make_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """``make_database(backend)`` → a SQLAlchemy URL of a new, empty database dropped after the run."""
    created: list[tuple[str, str, str]] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('sqlite')) / 'silverpay.db'}"
        admin_url = os.environ.get(URL_VARIABLES[backend])
        if not admin_url:
            pytest.skip(f"{URL_VARIABLES[backend]} is not set: no {backend} server to test against (CI sets it)")
        name = f"silverpay_t_{secrets.token_hex(5)}"
        asyncio.run(_admin(admin_url, f"CREATE DATABASE {name}"))
        created.append((backend, admin_url, name))
        if backend == "postgresql":
            asyncio.run(_admin(admin_url, f"ALTER DATABASE {name} SET synchronous_commit = off"))
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    for backend, admin_url, name in created:
        asyncio.run(_admin(admin_url, _drop_statement(backend, name)))


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _empty(url: str) -> None:
    engine = create_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]  # children before parents
    try:
        async with engine.begin() as connection:
            backend = engine.dialect.name
            if backend == "postgresql":  # TRUNCATE makes new files for every table: ten times slower here
                for table in tables:
                    await connection.execute(text(f"DELETE FROM {table}"))
                await connection.execute(text(
                    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                ))  # fmt: skip
            elif backend == "sqlite":
                for table in tables:
                    await connection.execute(text(f"DELETE FROM {table}"))
            else:  # MariaDB: TRUNCATE is DDL there (slow, and it commits); a DELETE per table keeps it cheap
                await connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
                for table in tables:
                    await connection.execute(text(f"DELETE FROM {table}"))
                await connection.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(make_database: object) -> Iterator[object]:
    """``migrated_database(backend)`` → the run's migrated database of that backend (made on first use)."""
    made: dict[str, str] = {}

    def get(backend: str) -> str:
        if backend not in made:
            url = make_database(backend)  # type: ignore[operator]
            asyncio.run(_migrate(url))
            made[backend] = url
        return made[backend]

    yield get


def emptied(migrated_database: object, backend: str) -> str:
    """The run's migrated database of ``backend``, emptied: for fixtures with parameters of their own."""
    url: str = migrated_database(backend)  # type: ignore[operator]
    asyncio.run(_empty(url))
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, migrated_database: object) -> str:
    """Parametrises a test over every backend; the database is empty when the test starts."""
    return emptied(migrated_database, request.param)
