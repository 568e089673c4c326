"""Running `silverpay` commands in-process (Typer's CliRunner) in a clean environment."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from silverpay.beijing import BEIJING
from silverpay.cli import app

PAY = {"SILVERPAY_WECHAT_APPID": "wx1", "SILVERPAY_WECHAT_MCH_ID": "1900000109", "SILVERPAY_WECHAT_API_KEY": "k" * 32}
API = {**PAY, "SILVERPAY_WECHAT_SECRET": "s", "SILVERPAY_JWT_SECRET": "j" * 32}
runner = CliRunner()


@pytest.fixture
def environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No SILVERPAY_* variables (the suite's own SILVERPAY_TEST_* stay) and no .env: the working
    directory is an empty one, the returned path, with SQLite in it. The environment is restored
    afterwards, including what a command set for its own processes."""
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    for name in [
        name for name in os.environ if name.startswith("SILVERPAY_") and not name.startswith("SILVERPAY_TEST_")
    ]:
        del os.environ[name]
    os.environ["SILVERPAY_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'silverpay.db'}"
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


def invoke(*args: str, **env: str) -> tuple[int, str]:
    """Exit code and output, whitespace collapsed (so a check does not depend on where a line wraps)."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1", **env}, prog_name="silverpay")
    return result.exit_code, " ".join(result.output.split())


def beijing_days_ago(days: int) -> str:
    """A Beijing date ``days`` before today there, YYYY-MM-DD (1: the latest day with a bill)."""
    return (datetime.fromtimestamp(time.time(), BEIJING).date() - timedelta(days=days)).isoformat()
