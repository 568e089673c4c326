"""The sweeper against WeChat's own speed: how fast one `silverpay worker` sweeps pending payments,
against the rate at which the same pay client can ask the same simulator, at the same concurrency.

    python bench/sweep.py [--orders 100000] [--concurrency 16] [--rounds 3] [--database-url URL]

Needs PostgreSQL (a fresh database is created on the server of --database-url and dropped after).
Starts `silverpay sim` (in memory). Each round seeds N PAYING orders here and their trades at the
simulator (POST /sim/v1/trades:seed): half paid, a quarter unpaid, a quarter unknown to WeChat;
then, interleaved:

- raw: the service's own V2 pay client (httpx, the same code the worker uses) querying a sample of
  those trades from this process, ``--concurrency`` at a time;
- swept: `silverpay worker` (rate limit lifted, batch --batch, ``--concurrency`` queries in flight)
  sweeping every order once. Its rate is taken between 10 % and 90 % of the orders handled (process
  start-up and the last batch's tail left out).

After each sweep: every paid trade's order is PAID with exactly one PAID status event, every
other order still PAYING and checked once. CPU of the simulator, the worker and the raw client
is reported per query. Last line: ``swept_per_s=… raw_per_s=… ratio=…`` (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

from notify_db import AMOUNT_FEN, create_database, drop_database, migrate, seed_orders, seed_owner
from notify_procs import spent, tree_cpu
from silverpay.demo.defaults import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.errors import TradeNotFound
from silverpay.serving import free_port
from silverpay.store.db import create_engine
from silverpay.store.models import Order, OrderEvent
from silverpay.wechat.v2.client import V2PayClient
from silverpay.wechat.v2.signing import SignType

SEED_BATCH = 10_000
NEVER_AGAIN = "86400"  # the sweep schedule during a round: nothing comes due twice


def start_sim(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port("127.0.0.1")
    log = (workdir / "sim.log").open("wb")
    sim = subprocess.Popen([sys.executable, "-m", "silverpay", "sim", "--port", str(port), "--seed", "1"],
                           stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/sim/v1/clock", timeout=2).raise_for_status()
            return sim, base
        except httpx.HTTPError:
            time.sleep(0.1)
    sim.kill()
    raise SystemExit(f"the simulator did not start; see {workdir / 'sim.log'}")


def seed_sim(base: str, numbers: list[str]) -> dict[str, str]:
    """Half paid, a quarter unpaid at WeChat, a quarter never seen there; returns the plan."""
    plan = {no: ("SUCCESS", "NOTPAY", "UNKNOWN", "SUCCESS")[i % 4] for i, no in enumerate(numbers)}
    known = [no for no in numbers if plan[no] != "UNKNOWN"]
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, len(known), SEED_BATCH):
            trades = [{"out_trade_no": no, "amount_fen": AMOUNT_FEN, "openid": "o-bench", "state": plan[no],
                       "api": "v2"} for no in known[start : start + SEED_BATCH]]  # fmt: skip
            client.post("/sim/v1/trades:seed", json={"trades": trades}).raise_for_status()
    return plan


def pay_client(base: str, http: httpx.AsyncClient) -> V2PayClient:
    return V2PayClient(http, base_url=base, appid=DEMO_APPID, mch_id=DEMO_MCH_ID, api_key=DEMO_API_KEY,
                       sign_type=SignType.HMAC_SHA256)  # fmt: skip


async def raw_rate(base: str, numbers: list[str], concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue = list(reversed(numbers))
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as http:
        client = pay_client(base, http)

        async def one() -> None:
            while queue:
                with contextlib.suppress(TradeNotFound):  # a quarter are unknown to WeChat
                    await client.query(queue.pop())

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return len(numbers) / (time.perf_counter() - start)


async def handled(database_url: str, prefix: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as db:
            query = select(func.count()).where(
                Order.out_trade_no.like(f"{prefix}%"), (Order.check_attempts > 0) | (Order.status != "PAYING")
            )
            return int((await db.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def sweep(
    database_url: str, sim: str, prefix: str, n: int, args: argparse.Namespace, workdir: Path
) -> tuple[float, float]:
    """Run one worker until every order was swept once; (orders per second, worker CPU per order in ms)."""
    env = {**os.environ, "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_DATABASE_URL": database_url,
           "SILVERPAY_AUTO_MIGRATE": "0", "SILVERPAY_WECHAT_PAY_BASE": sim, "SILVERPAY_WECHAT_LOGIN_BASE": sim,
           "SILVERPAY_WECHAT_SIGN_TYPE": "HMAC-SHA256", "SILVERPAY_NOTIFY_URL": "http://127.0.0.1:9/notify",
           "SILVERPAY_WECHAT_RATE_LIMIT_PER_S": "100000", "SILVERPAY_WORKER_CONCURRENCY": str(args.concurrency),
           "SILVERPAY_WORKER_BATCH": str(args.batch), "SILVERPAY_SWEEP_SCHEDULE_S": NEVER_AGAIN}  # fmt: skip
    with (workdir / "worker.log").open("ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "silverpay", "worker"], env=env, stdout=log, stderr=log)
    marks: dict[float, float] = {}
    before = tree_cpu(worker.pid)
    try:
        while True:
            done = asyncio.run(handled(database_url, prefix))
            now = time.perf_counter()
            for fraction in (0.1, 0.9):
                if done >= fraction * n and fraction not in marks:
                    marks[fraction] = now
            if done >= n:
                break
            if worker.poll() is not None:
                raise SystemExit(f"the worker stopped; see {workdir / 'worker.log'}")
            time.sleep(0.2)
        cpu = spent(before, tree_cpu(worker.pid))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return 0.8 * n / (marks[0.9] - marks[0.1]), 1000 * cpu / n


async def _check(database_url: str, prefix: str, plan: dict[str, str]) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as db:
            rows = (await db.execute(select(Order.out_trade_no, Order.status, Order.check_attempts)
                                     .where(Order.out_trade_no.like(f"{prefix}%")))).all()  # fmt: skip
            paid_events = Counter((await db.execute(
                select(Order.out_trade_no).join(OrderEvent, OrderEvent.order_id == Order.id)
                .where(Order.out_trade_no.like(f"{prefix}%"), OrderEvent.kind == "status",
                       OrderEvent.detail["to"].as_string() == "PAID")
            )).scalars())  # fmt: skip
    finally:
        await engine.dispose()
    problems = []
    for no, status, attempts in rows:
        wanted = "PAID" if plan[no] == "SUCCESS" else "PAYING"
        if status != wanted or (wanted == "PAID" and paid_events[no] != 1) or (wanted == "PAYING" and attempts != 1):
            problems.append(f"{no}: {status}, {attempts} checks, {paid_events[no]} PAID events ({plan[no]} at WeChat)")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--raw-sample", type=int, default=20_000, help="queries in each raw round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=500, help="SILVERPAY_WORKER_BATCH")
    parser.add_argument("--rounds", type=int, default=3)
    default_server = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    parser.add_argument("--database-url", default=os.environ.get("SILVERPAY_BENCH_POSTGRES_URL", default_server))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-sweep-"))
    database_url = create_database(args.database_url)
    sim, base = start_sim(workdir)
    swept: list[float] = []
    raw: list[float] = []
    try:
        migrate(database_url)
        owner = seed_owner(database_url)
        for round_no in range(1, args.rounds + 1):
            prefix = f"SW{secrets.token_hex(3)}"
            numbers = seed_orders(database_url, prefix, args.orders, owner, due=True)
            plan = seed_sim(base, numbers)
            sim_before = tree_cpu(sim.pid)
            client_before = tree_cpu(os.getpid())
            sample = [no for no in numbers if plan[no] != "UNKNOWN"][: args.raw_sample]
            raw.append(asyncio.run(raw_rate(base, sample, args.concurrency)))
            raw_sim_cpu = 1000 * spent(sim_before, tree_cpu(sim.pid)) / len(sample)
            raw_client_cpu = 1000 * spent(client_before, tree_cpu(os.getpid())) / len(sample)
            sim_before = tree_cpu(sim.pid)
            rate, worker_cpu = sweep(database_url, base, prefix, args.orders, args, workdir)
            swept.append(rate)
            sweep_sim_cpu = 1000 * spent(sim_before, tree_cpu(sim.pid)) / args.orders
            problems = asyncio.run(_check(database_url, prefix, plan))
            print(f"round {round_no}: raw {raw[-1]:7.1f}/s (sim {raw_sim_cpu:.2f} ms, client {raw_client_cpu:.2f} ms "
                  f"per query)  swept {rate:7.1f}/s (sim {sweep_sim_cpu:.2f} ms, worker {worker_cpu:.2f} ms per "
                  f"order)  check: {'ok' if not problems else f'{len(problems)} wrong'}", flush=True)  # fmt: skip
            if problems:
                raise SystemExit("\n".join(problems[:20]))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
        drop_database(args.database_url, database_url)
    swept_per_s, raw_per_s = statistics.median(swept), statistics.median(raw)
    print(f"swept_per_s={swept_per_s:.1f} raw_per_s={raw_per_s:.1f} ratio={swept_per_s / raw_per_s:.3f}")


if __name__ == "__main__":
    main()
