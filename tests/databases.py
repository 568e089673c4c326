"""One fresh database per backend per test run: SQLite always, PostgreSQL and MariaDB when CI
(or you) point SILVERPAY_TEST_POSTGRES_URL / SILVERPAY_TEST_MYSQL_URL at a server."""

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
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    for backend, admin_url, name in created:
        asyncio.run(_admin(admin_url, _drop_statement(backend, name)))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, make_database: object) -> str:
    """Parametrises a test over every backend; one database per backend for the whole run."""
    cache: dict[str, str] = request.config.__dict__.setdefault("_silverpay_databases", {})
    if request.param not in cache:
        cache[request.param] = make_database(request.param)  # type: ignore[operator]
    return cache[request.param]
