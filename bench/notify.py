"""The v2 payment notification path of `silverpay serve` against the tutorial stack, in one run.

    python bench/notify.py [--n 5000] [--rounds 3] [--concurrency 32] [--database-url URL]
                           [--serve-workers N] [--compare-procs] [--profile]

Needs PostgreSQL and the bench extra (`pip install -e '.[bench]'`). On the server of
--database-url (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) it creates a fresh
database, migrates it, and drops it at the end. Two servers settle orders there:

- `silverpay serve` (demo credentials, no embedded worker; --serve-workers N → `--workers N`);
- the baseline, bench/baselines/flask_notify.py: Flask + wechatpy + sync SQLAlchemy/psycopg 3
  under gunicorn with one sync worker, doing the same checks and the same guarded transaction.

Each round seeds N fresh PAYING orders, then POSTs one signed notification (HMAC-SHA256) per order
exactly once from 32 connections with wrk (bench/notify.lua; httpx if wrk is missing), then checks
that every order is PAID with exactly one status event to PAID. Rounds alternate silverpay,
baseline, … (--rounds of each). Server CPU is user+system time of the server's process tree over
the round (/proc), per notification; PostgreSQL's is that of the database's backends, and
pg_connects counts the connections opened to it during the round.

--compare-procs adds `silverpay serve --workers 1` and `--workers 2` rounds to each cycle.
--profile runs one more silverpay round under py-spy and prints where its samples went.

Last line:  notify_per_s=… baseline_per_s=… ratio=… server_cpu_ms=… baseline_cpu_ms=…
(medians over the rounds; with --compare-procs preceded by procs2_per_s=… procs1_per_s=… scale=…)
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import notify_db
import notify_load
import notify_procs
from notify_procs import PostgresWatch, Server, spent, tree_cpu
from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def notification(out_trade_no: str, n: int) -> bytes:
    params: dict[str, object] = {
        "appid": DEMO_APPID, "bank_type": "OTHERS", "cash_fee": notify_db.AMOUNT_FEN, "fee_type": "CNY",
        "is_subscribe": "N", "mch_id": DEMO_MCH_ID, "nonce_str": signing.nonce_str(), "openid": "o-bench",
        "out_trade_no": out_trade_no, "result_code": "SUCCESS", "return_code": "SUCCESS",
        "time_end": "20261127120000", "total_fee": notify_db.AMOUNT_FEN, "trade_type": "JSAPI",
        "transaction_id": f"4200000000202611{n:016d}", "sign_type": "HMAC-SHA256",
    }  # fmt: skip
    params["sign"] = signing.sign(params, DEMO_API_KEY, SignType.HMAC_SHA256)
    return xml.encode(params).encode()


@dataclass
class Round:
    label: str
    n: int
    per_s: float
    server_ms: float  # server CPU per notification
    postgres_ms: float  # the database's backends' CPU per notification
    connects: int  # PostgreSQL sessions opened during the round
    client_ms: float  # wrk's CPU per request
    p50_ms: float | None
    p99_ms: float | None

    def line(self) -> str:
        latency = f"p50={self.p50_ms:6.1f} ms p99={self.p99_ms:6.1f} ms" if self.p50_ms and self.p99_ms else ""
        postgres = f"postgres_cpu={self.postgres_ms:5.2f} ms pg_connects={self.connects:<4d}"
        client = f"client_cpu={self.client_ms:5.3f} ms"
        return (f"{self.label:<13} {self.n:6d} notifications {self.per_s:7.1f}/s  server_cpu={self.server_ms:5.2f} ms  "
                f"{postgres} {client}  {latency}")  # fmt: skip


class Bench:
    def __init__(self, args: argparse.Namespace, database_url: str, workdir: Path) -> None:
        self.args, self.database_url, self.workdir = args, database_url, workdir
        self.owner = notify_db.seed_owner(database_url)
        self.database = database_url.rsplit("/", 1)[1]
        self.wrk = notify_load.wrk_path()
        self.serial = 0
        if self.wrk is None:
            print("WARNING: wrk not found (apt-get install wrk): falling back to httpx in this process, a client "
                  "that costs far more CPU than the servers it drives; rates are lower bounds")  # fmt: skip

    def round(self, server: Server, n: int) -> Round:
        self.serial += 1
        prefix = f"B{self.serial:03d}{secrets.token_hex(2)}"
        numbers = notify_db.seed_orders(self.database_url, prefix, n, self.owner)
        bodies = [notification(no, self.serial * 10**8 + i) for i, no in enumerate(numbers)]
        sessions = notify_db.sessions(self.database_url)
        with PostgresWatch(self.database) as postgres:
            server_cpu = tree_cpu(server.process.pid)
            if self.wrk:
                load = notify_load.run_wrk(self.wrk, server.url, bodies, self.args.concurrency, self.workdir)
            else:
                load = notify_load.run_httpx(server.url, bodies, self.args.concurrency)
            server_s = spent(server_cpu, tree_cpu(server.process.pid))
        problems, sessions_after = notify_db.check_round(self.database_url, prefix, n)
        if load.answers != n or load.bad or problems:
            raise SystemExit(f"{server.label}: {load.answers} answers, {load.bad} not 200; " + "; ".join(problems)
                             + f" (server log: {server.log})")  # fmt: skip
        connects = sessions_after - sessions - 1  # the checker's own session is the 1
        return Round(server.label, n, n / load.elapsed_s, server_s / n * 1000, postgres.seconds / n * 1000, connects,
                     load.client_cpu_s / n * 1000, load.p50_ms, load.p99_ms)  # fmt: skip


def median(rounds: list[Round], label: str, field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in rounds if r.label == label))


def run(args: argparse.Namespace, database_url: str, workdir: Path) -> None:
    bench = Bench(args, database_url, workdir)
    wants_workers = args.serve_workers != 1 or args.compare_procs
    servers: dict[str, Server] = {}
    try:
        main = notify_procs.start_silverpay(database_url, args.serve_workers if wants_workers else None, workdir)
        servers[main.label] = main
        servers["baseline"] = notify_procs.start_baseline(database_url, workdir)
        if args.compare_procs:
            for workers in (1, 2):
                if f"silverpay x{workers}" not in servers:
                    extra = notify_procs.start_silverpay(database_url, workers, workdir)
                    servers[extra.label] = extra
        cycle = [main.label, "baseline", *(label for label in servers if label not in (main.label, "baseline"))]
        for label in cycle:  # warm-up: imports, connection pools, caches; checked, not counted
            bench.round(servers[label], min(500, args.n))
        rounds: list[Round] = []
        for _ in range(args.rounds):
            for label in cycle:
                rounds.append(bench.round(servers[label], args.n))
                print(rounds[-1].line(), flush=True)
        if args.profile:
            profile(bench, main, args.n, workdir)
        client_ms = statistics.median(r.client_ms for r in rounds)
        client = "wrk" if bench.wrk else "httpx"
        print(f"client ({client} -t1 -c{args.concurrency}) CPU per request: {client_ms:.3f} ms (median of the rounds)")
        if args.compare_procs:
            two, one = median(rounds, "silverpay x2", "per_s"), median(rounds, "silverpay x1", "per_s")
            print(f"procs2_per_s={two:.1f} procs1_per_s={one:.1f} scale={two / one:.2f}")
        ours, theirs = median(rounds, main.label, "per_s"), median(rounds, "baseline", "per_s")
        print(f"notify_per_s={ours:.1f} baseline_per_s={theirs:.1f} ratio={ours / theirs:.2f} "
              f"server_cpu_ms={median(rounds, main.label, 'server_ms'):.2f} "
              f"baseline_cpu_ms={median(rounds, 'baseline', 'server_ms'):.2f}")  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()


def profile(bench: Bench, server: Server, n: int, workdir: Path) -> None:
    import notify_profile

    profiler = notify_profile.Profiler(server.process.pid, workdir / "silverpay-profile.folded")
    try:
        measured = bench.round(server, n)
    finally:
        profiler.stop()
    print(f"profiled round (under py-spy, not counted): {measured.line()}")
    print(f"profile: {profiler.output} (folded stacks: flamegraph.pl, inferno-flamegraph or speedscope.app read it)")
    print(notify_profile.summary(profiler.output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="notifications per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each server, interleaved (at least 3)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SILVERPAY_BENCH_POSTGRES_URL", DEFAULT_SERVER),
        help="PostgreSQL server (and a database on it to connect to) to create the run's database on",
    )
    parser.add_argument("--serve-workers", type=int, default=1, help="`silverpay serve --workers N`")
    parser.add_argument("--compare-procs", action="store_true", help="also rounds of --workers 1 and --workers 2")
    parser.add_argument("--profile", action="store_true", help="one more silverpay round under py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3")
    if (args.serve_workers != 1 or args.compare_procs) and not notify_procs.serve_has_workers_option():
        parser.error("`silverpay serve --help` lists no --workers option: --serve-workers/--compare-procs need it")
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-notify-"))
    database_url = notify_db.create_database(args.database_url)
    print(f"database {database_url.rsplit('/', 1)[1]}, work files in {workdir}", flush=True)
    try:
        notify_db.migrate(database_url)
        run(args, database_url, workdir)
    finally:
        if not args.keep:
            notify_db.drop_database(args.database_url, database_url)


if __name__ == "__main__":
    main()
