"""Raw orderquery rate of `silverpay sim` holding many trades, against a trivial endpoint of the same process.

    python bench/sim_orderquery.py [--trades 100000] [--concurrency 32] [--duration 5] [--client httpx|raw]
                                   [--py-spy FILE]

Starts `silverpay sim` (one process), seeds TRADES trades through `POST /sim/v1/trades:seed`
(half paid), then for DURATION seconds has CONCURRENCY clients (one connection each) POST signed
v2 `/pay/orderquery` requests for random seeded trades, checking each answer names the trade or
its state. Request bodies are signed before the clock starts, so the clients spend their time on
HTTP alone; `--client raw` speaks HTTP/1.1 on bare asyncio streams, for when httpx itself is the
bottleneck (on 2 cores the clients and the simulator share the CPU). The baseline is
`GET /sim/v1/clock` from the same clients in the same run. CPU seconds per wall second of the
simulator and of the clients show which side was the bottleneck (1.0 = one core busy);
`--py-spy FILE` records where the simulator's time went (needs `pip install py-spy`). Last line:
    orderquery_per_s=… baseline_per_s=… ratio=… sim_cpu=… client_cpu=…
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from silverpay.serving import free_port
from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType

SEED_BATCH = 10_000


def query_body(out_trade_no: str) -> bytes:
    params = {"appid": DEMO_APPID, "mch_id": DEMO_MCH_ID, "out_trade_no": out_trade_no,
              "nonce_str": signing.nonce_str()}  # fmt: skip
    params["sign"] = signing.sign(params, DEMO_API_KEY, SignType.MD5)
    return xml.encode(params).encode()


def start_sim(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port("127.0.0.1")
    base_url = f"http://127.0.0.1:{port}"
    with open(workdir / "sim.log", "wb") as log:
        sim = subprocess.Popen([sys.executable, "-m", "silverpay", "sim", "--port", str(port)], stdout=log, stderr=log)
    for _ in range(300):
        try:
            if httpx.get(f"{base_url}/sim/v1/clock").status_code == 200:
                return sim, base_url
        except httpx.HTTPError:
            time.sleep(0.1)
    sim.kill()
    raise RuntimeError(f"simulator did not start; see {workdir / 'sim.log'}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed(base_url: str, n: int) -> tuple[list[str], float]:
    nos = [f"SQ{i:09d}" for i in range(n)]
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for first in range(0, n, SEED_BATCH):
            trades = [{"out_trade_no": no, "amount_fen": 990, "openid": "o-bench", "state": "SUCCESS" if i % 2 else
                       "NOTPAY"} for i, no in enumerate(nos[first : first + SEED_BATCH], first)]  # fmt: skip
            response = await client.post("/sim/v1/trades:seed", json={"trades": trades})
            response.raise_for_status()
    return nos, time.perf_counter() - start


Make = Callable[[], tuple[str, bytes | None, bytes]]  # path, body (None: GET), bytes the answer must contain


async def httpx_worker(base_url: str, make: Make, stop: float, latencies: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        while time.perf_counter() < stop:
            path, body, expected = make()
            start = time.perf_counter()
            response = await (client.get(path) if body is None else client.post(path, content=body))
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200 or expected not in response.content:
                raise RuntimeError(f"{path}: HTTP {response.status_code} {response.text[:300]}")


async def raw_worker(base_url: str, make: Make, stop: float, latencies: list[float]) -> None:
    """HTTP/1.1 keep-alive over a bare asyncio stream: a client that costs little CPU per request."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while time.perf_counter() < stop:
            path, body, expected = make()
            head = f"{'GET' if body is None else 'POST'} {path} HTTP/1.1\r\nHost: {host}\r\n"
            if body is not None:
                head += f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
            start = time.perf_counter()
            writer.write(head.encode() + b"\r\n" + (body or b""))
            headers = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in headers.lower().split(b"\r\n")
                          if line.startswith(b"content-length:"))  # fmt: skip
            content = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not headers.startswith(b"HTTP/1.1 200") or expected not in content:
                raise RuntimeError(f"{path}: {headers[:40]!r} {content[:300]!r}")
    finally:
        writer.close()


async def drive(base_url: str, args: argparse.Namespace, duration: float, make: Make) -> tuple[float, list[float]]:
    """``args.concurrency`` clients send ``make()`` requests for ``duration`` seconds; returns
    (requests per second, latencies in s)."""
    latencies: list[float] = []
    stop = time.perf_counter() + duration
    worker = raw_worker if args.client == "raw" else httpx_worker
    start = time.perf_counter()
    await asyncio.gather(*(worker(base_url, make, stop, latencies) for _ in range(args.concurrency)))
    return len(latencies) / (time.perf_counter() - start), latencies


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def start_profiler(pid: int, out: str, duration: float) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--duration", str(int(duration)), "--rate", "200",
                             "--format", "raw", "-o", out, "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


async def measure(sim: subprocess.Popen[bytes], base_url: str, args: argparse.Namespace) -> None:
    nos, seed_s = await seed(base_url, args.trades)
    sample = random.Random(7).sample(range(len(nos)), min(len(nos), 5000))
    bodies = [(query_body(nos[i]), f"<out_trade_no><![CDATA[{nos[i]}]]></out_trade_no>".encode(),
               b"SUCCESS" if i % 2 else b"NOTPAY") for i in sample]  # fmt: skip

    def orderquery() -> tuple[str, bytes | None, bytes]:
        body, names, state = random.choice(bodies)
        return "/pay/orderquery", body, names if random.random() < 0.5 else b"<trade_state><![CDATA[" + state

    def clock() -> tuple[str, bytes | None, bytes]:
        return "/sim/v1/clock", None, b'"offset_s"'

    await drive(base_url, args, 1.0, orderquery)  # warm-up
    baseline, base_lat = await drive(base_url, args, args.duration, clock)
    profiler = start_profiler(sim.pid, args.py_spy, args.duration) if args.py_spy else None
    cpu_before, own_before, wall_before = cpu_seconds(sim.pid), time.process_time(), time.perf_counter()
    rate, lat = await drive(base_url, args, args.duration, orderquery)
    wall = time.perf_counter() - wall_before
    sim_cpu, client_cpu = (cpu_seconds(sim.pid) - cpu_before) / wall, (time.process_time() - own_before) / wall
    if profiler is not None:
        profiler.wait(timeout=60)
    print(f"trades={args.trades} seeded in {seed_s:.1f} s ({args.trades / seed_s:.0f}/s), "
          f"concurrency={args.concurrency} ({args.client} clients) duration={args.duration:.0f} s")  # fmt: skip
    for name, per_s, lats in (("baseline GET /sim/v1/clock", baseline, base_lat), ("POST /pay/orderquery", rate, lat)):
        print(f"{name:26} {per_s:8.1f}/s  p50={pct(lats, 50):6.1f} ms  p99={pct(lats, 99):6.1f} ms")
    print(f"orderquery_per_s={rate:.1f} baseline_per_s={baseline:.1f} ratio={rate / baseline:.3f} "
          f"sim_cpu={sim_cpu:.2f} client_cpu={client_cpu:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                        help="httpx.AsyncClient per worker, or raw HTTP/1.1 on asyncio streams (cheaper)")  # fmt: skip
    parser.add_argument("--py-spy", metavar="FILE", help="record the simulator with py-spy (raw format) into FILE")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-"))
    sim, base_url = start_sim(workdir)
    try:
        asyncio.run(measure(sim, base_url, args))
    finally:
        sim.terminate()
        sim.wait(timeout=20)


if __name__ == "__main__":
    main()
