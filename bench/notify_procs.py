"""bench/notify.py's processes: the servers under test and the CPU time they spend (Linux /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from silverpay.serving import free_port
from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
BASELINES = Path(__file__).parent / "baselines"
NOTIFY_PATH = "/api/v1/wechat/notify"


# CPU accounting --------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds of all its threads), or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name, in parentheses, may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) * TICK_S


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and its descendants (gunicorn's or uvicorn's workers), by pid."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is not None:
            parents[pid], cpu[pid] = stat
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return {pid: cpu[pid] for pid in tree if pid in cpu}


class PostgresWatch:
    """CPU seconds of the PostgreSQL backends serving one database (their titles name it).

    A backend that exits takes its CPU time with it, and `silverpay serve` closes pool overflow
    connections all the time: so a thread reads the backends every 0.1 s while the round runs,
    and a backend that has gone counts with its last reading (under 0.1 s of it is missed)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._ours: set[int] = set()
        self._others: set[int] = set()
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _read(self) -> None:
        for pid in _all_pids():
            if pid in self._others:
                continue
            if pid not in self._ours:
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if not title.startswith("postgres"):
                    self._others.add(pid)
                if f" {self.database} " not in title:
                    continue  # not ours, or a new backend that has not named its database yet
                self._ours.add(pid)
            stat = _stat(pid)
            if stat is not None:
                self._last[pid] = stat[1]

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            self._read()

    def __enter__(self) -> PostgresWatch:
        self._read()
        self._start = dict(self._last)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    @property
    def seconds(self) -> float:
        return spent(self._start, self._last)


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots; a process born in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# Servers ---------------------------------------------------------------------------------------


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    url: str  # of the notify endpoint
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_ready(server: Server, probe: str) -> Server:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            httpx.get(probe, timeout=2)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise SystemExit(f"{server.label} did not start; see {server.log}")


def serve_has_workers_option() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "silverpay", "serve", "--help"], capture_output=True, text=True, check=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    ).stdout  # fmt: skip
    return "--workers" in help_text


def start_silverpay(database_url: str, workers: int | None, workdir: Path) -> Server:
    """`silverpay serve` in demo mode without its background worker; ``workers`` → `--workers N`."""
    port = free_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_EMBEDDED_WORKER": "0", "SILVERPAY_AUTO_MIGRATE": "0",
        "SILVERPAY_DATABASE_URL": database_url, "SILVERPAY_WECHAT_SIGN_TYPE": "HMAC-SHA256",
        "SILVERPAY_NOTIFY_URL": base + NOTIFY_PATH,
    }  # fmt: skip
    command = [sys.executable, "-m", "silverpay", "serve", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    label = f"silverpay x{workers or 1}"
    log = workdir / f"serve-{workers or 1}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return _wait_ready(Server(label, process, base + NOTIFY_PATH, log), base + "/healthz")


def start_baseline(database_url: str, workdir: Path) -> Server:
    """bench/baselines/flask_notify.py under gunicorn, 1 sync worker (see the module for why)."""
    port = free_port("127.0.0.1")
    env = {
        **os.environ,
        "BASELINE_DATABASE_URL": make_url(database_url).set(drivername="postgresql+psycopg").render_as_string(False),
        "BASELINE_APPID": DEMO_APPID, "BASELINE_MCH_ID": DEMO_MCH_ID, "BASELINE_API_KEY": DEMO_API_KEY,
    }  # fmt: skip
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
        "--chdir", str(BASELINES), "--log-level", "warning", "flask_notify:app",
    ]  # fmt: skip
    log = workdir / "baseline.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}{NOTIFY_PATH}"
    return _wait_ready(Server("baseline", process, url, log), url)
