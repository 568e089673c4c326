"""`silverpay demo` as a user runs it: `--once` prints no addresses that are dead a moment later, and
its temporary directory (silverpay-demo-*) is removed on the way out — after --once, Ctrl-C or
SIGTERM — unless --keep."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import free_port
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def demo_env(tmp: Path) -> dict[str, str]:
    """None of the caller's SILVERPAY_* settings, a wide console, temporary files under ``tmp``."""
    tmp.mkdir()
    return {k: v for k, v in os.environ.items() if not k.startswith("SILVERPAY_")} | {
        "COLUMNS": "200", "TMPDIR": str(tmp)}  # fmt: skip


def command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "silverpay", "demo", "--port", str(free_port()), "--sim-port", str(free_port()),
            *extra]  # fmt: skip


def test_once_prints_no_dead_addresses_and_leaves_nothing(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    done = subprocess.run(command("--once"), cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False, env=demo_env(tmp))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is PAID" in done.stdout
    for dead in (" serving ", "browser demo", "/docs", "Ctrl-C"):
        assert dead not in done.stdout, done.stdout
    assert list(tmp.iterdir()) == []


def test_keep_keeps_the_directory(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    done = subprocess.run(command("--once", "--keep"), cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False, env=demo_env(tmp))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [kept] = tmp.iterdir()
    assert kept.name.startswith("silverpay-demo-") and (kept / "silverpay.db").is_file()
    assert f"kept {kept}" in done.stdout


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
async def test_stopping_a_serving_demo_removes_its_directory(tmp_path: Path, stop: signal.Signals) -> None:
    tmp, log = tmp_path / "tmp", tmp_path / "demo.log"
    args = command()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*args, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                                    env=demo_env(tmp))  # fmt: skip
    try:
        await eventually(lambda: "Ctrl-C to stop." in log.read_text(encoding="utf-8"), within_s=60)
        assert [p.name[:15] for p in tmp.iterdir()] == ["silverpay-demo-"]
        proc.send_signal(stop)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, log.read_text(encoding="utf-8")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "stopped." in log.read_text(encoding="utf-8")
    assert list(tmp.iterdir()) == []
