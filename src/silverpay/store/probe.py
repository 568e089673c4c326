"""Before a command starts work: can the database be reached? One connection, ``SELECT 1``, and a
refusal as one line that names where the database is and what the driver said (never the password)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3

from sqlalchemy import exc, text
from sqlalchemy.engine import URL, make_url

from silverpay.errors import ConfigError, DatabaseUnreachable
from silverpay.store.db import create_engine

PROBE_TIMEOUT_S = 10.0


async def probe(url: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Connect once; DatabaseUnreachable (where, and the driver's reason) if that fails, ConfigError
    if ``url`` is not a database URL this service can use."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise ConfigError("not a database URL (such as postgresql+asyncpg://user@host/db)") from None
    engine = create_engine(url)  # ConfigError for an unsupported driver
    if parsed.get_backend_name() == "sqlite":
        await engine.dispose()
        _probe_sqlite(parsed)
        return
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUnreachable(f"{where(parsed)}: no answer within {timeout_s:g} s") from None
    except (exc.DBAPIError, OSError) as error:
        raise DatabaseUnreachable(f"{where(parsed)}: {reason(error)}") from None
    finally:
        await engine.dispose()


def _probe_sqlite(url: URL) -> None:
    """SQLite through the standard library: a file that will not open, refused the same way, without
    aiosqlite's thread (which, after a failed open, may call back into an event loop already closed)."""
    if not url.database or url.database == ":memory:":
        return
    try:
        with contextlib.closing(sqlite3.connect(url.database, timeout=PROBE_TIMEOUT_S)) as connection:
            connection.execute("SELECT 1")
    except sqlite3.Error as error:
        raise DatabaseUnreachable(f"{where(url)}: {reason(error)}") from None


def where(url: URL) -> str:
    """The database's place, without credentials: ``host:port/name (driver)`` or the SQLite file."""
    if url.get_backend_name() == "sqlite":
        return f"cannot open the database {url.database or ':memory:'} ({url.drivername})"
    port = f":{url.port}" if url.port else ""
    return f"cannot reach the database at {url.host or 'localhost'}{port}/{url.database or ''} ({url.drivername})"


def reason(error: BaseException) -> str:
    """The driver's own words: the innermost cause, an OS error by its errno text."""
    while (cause := error.__cause__ or error.__context__) is not None:
        error = cause
    if isinstance(error, OSError) and error.errno is not None:
        return os.strerror(error.errno) if error.errno > 0 else (error.strerror or str(error))
    if len(error.args) == 2 and isinstance(error.args[0], int):  # PyMySQL: (code, message)
        return f"{error.args[1]} ({error.args[0]})"
    return str(error).splitlines()[0] if str(error) else type(error).__name__
