"""bench/notify.py's load: each pre-signed body POSTed exactly once, by wrk or else by httpx."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from notify_procs import tree_cpu

LUA = Path(__file__).parent / "notify.lua"


@dataclass
class Load:
    elapsed_s: float
    answers: int
    bad: int  # answers other than 200
    client_cpu_s: float  # wrk's (or this process's) CPU over the round
    p50_ms: float | None = None
    p99_ms: float | None = None


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _wrk_ms(summary: str, percent: str) -> float | None:
    """A latency percentile from wrk's --latency table, e.g. '     99%   12.34ms'."""
    match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", summary, re.MULTILINE)
    if match is None:
        return None
    return float(match[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]


def run_wrk(wrk: str, url: str, bodies: list[bytes], concurrency: int, workdir: Path) -> Load:
    """wrk -t1 -c CONCURRENCY with bench/notify.lua; ends once every body has its answer.

    One thread: wrk 4.1 with -t2 loses a few answers (~0.3 %) from servers that close the
    connection after each response, as gunicorn's sync worker does; the requests are served, the
    answers never counted, and the round would never end. One wrk thread spends ~0.1 ms of CPU per
    request (printed), far from being the bottleneck at a few thousand requests per second."""
    threads = 1
    if len(bodies) < threads or any(b"\n" in body for body in bodies):
        raise ValueError("one body per line, at least one per wrk thread")
    path = workdir / "bodies.txt"
    path.write_bytes(b"\n".join(bodies) + b"\n")
    timeout_s = 60 + len(bodies) / 20  # far beyond any plausible rate: then something is stuck
    command = [wrk, "-t", str(threads), "-c", str(concurrency), "-d", f"{int(timeout_s)}s", "--timeout", "30s",
               "--latency", "-s", str(LUA), url, "--", str(path), str(threads)]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    stderr: list[str] = []
    drain = threading.Thread(target=lambda: stderr.extend(process.stderr or []), daemon=True)
    drain.start()
    answers = bad = done = 0
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        if line.startswith("bench-done "):
            answers, bad = answers + int(line.split()[1]), bad + int(line.split()[2])
            done += 1
            if done == threads:
                break
    elapsed = time.perf_counter() - start
    client_cpu = sum(tree_cpu(process.pid).values())
    process.send_signal(signal.SIGINT)  # wrk sleeps out -d otherwise; SIGINT makes it print its summary
    summary = "".join(output) + process.stdout.read()
    process.wait(timeout=30)
    drain.join(timeout=5)
    if done != threads:
        raise SystemExit(
            f"wrk (exit {process.returncode}, after {elapsed:.1f} s) ended before every body had its "
            f"answer:\n{summary}{''.join(stderr)}"
        )
    if bad:
        print("".join(stderr[:3]), end="")
    return Load(elapsed, answers, bad, client_cpu, _wrk_ms(summary, "50"), _wrk_ms(summary, "99"))


def run_httpx(url: str, bodies: list[bytes], concurrency: int) -> Load:
    """The fallback without wrk: CONCURRENCY httpx clients in this process (a costlier client)."""
    return asyncio.run(_drive(url, bodies, concurrency))


async def _drive(url: str, bodies: list[bytes], concurrency: int) -> Load:
    queue = list(reversed(bodies))
    latencies: list[float] = []
    bad = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal bad
            while queue:
                body = queue.pop()
                sent = time.perf_counter()
                response = await client.post(url, content=body, headers={"Content-Type": "text/xml"})
                latencies.append(time.perf_counter() - sent)
                bad += response.status_code != 200

        cpu, start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    latencies.sort()
    return Load(elapsed, len(latencies), bad, cpu, latencies[len(latencies) // 2] * 1000,
                latencies[int(len(latencies) * 0.99)] * 1000)  # fmt: skip
