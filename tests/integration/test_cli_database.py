"""A database that cannot be reached stops every command that uses one with one line: where the
database is (never its password) and what the driver said; exit 2, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli_env import API, beijing_days_ago, invoke
from tests.databases import BACKENDS

COMMANDS = (("serve",), ("worker",), ("reconcile", "--date", beijing_days_ago(1)), ("db", "upgrade"))


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_line(output: str, *expected: str) -> None:
    assert "Traceback" not in output and "secret-pw" not in output
    for text in expected:
        assert text in output, output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("driver", ["postgresql+asyncpg", "mysql+aiomysql"])
def test_a_closed_port(environ: Path, command: tuple[str, ...], driver: str) -> None:
    port = closed_port()
    url = f"{driver}://silverpay:secret-pw@127.0.0.1:{port}/shop"
    code, output = invoke(*command, **API, SILVERPAY_NOTIFY_URL="https://shop.test/notify", SILVERPAY_DATABASE_URL=url)
    assert code == 2, output
    assert output == f"cannot reach the database at 127.0.0.1:{port}/shop ({driver}): Connection refused"
    assert_one_line(output)


def test_a_sqlite_file_that_cannot_be_opened(environ: Path) -> None:
    path = environ / "no-such-directory" / "silverpay.db"
    code, output = invoke("worker", **API, SILVERPAY_DATABASE_URL=f"sqlite+aiosqlite:///{path}")
    assert code == 2
    assert output == f"cannot open the database {path} (sqlite+aiosqlite): unable to open database file"


def test_a_url_that_is_not_one(environ: Path) -> None:
    code, output = invoke("db", "upgrade", SILVERPAY_DATABASE_URL="not a url")
    assert code == 2
    assert output.startswith("configuration error: SILVERPAY_DATABASE_URL: not a database URL")


def test_demo_names_its_option(environ: Path) -> None:
    port = closed_port()
    code, output = invoke("demo", "--once", "--database-url", f"postgresql+asyncpg://u@127.0.0.1:{port}/demo")
    assert code == 2
    assert output == f"cannot reach the database at 127.0.0.1:{port}/demo (postgresql+asyncpg): Connection refused"


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_upgrade_on_a_reachable_database(environ: Path, make_database: object, backend: str) -> None:
    url = make_database(backend)  # type: ignore[operator]
    code, output = invoke("db", "upgrade", SILVERPAY_DATABASE_URL=url)
    assert code == 0, output
    assert output == "database is at the latest schema"
