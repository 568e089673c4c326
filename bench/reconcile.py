"""Reconciliation of a 1,000,000-line bill, against pandas doing the same comparison in memory.

    python bench/reconcile.py [--rows 1000000] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
                              [--repeat N] [--keep]

Generates a bill of ROWS payments (WeChat's v2 text format, gzip) and a database with the
matching local orders, plus planted discrepancies: orders whose local amount differs, payments
WeChat has and we do not know, and local PAID orders absent from the bill. Then it times
`silverpay reconcile` (a subprocess, downloading the bill from a local HTTP server that plays
WeChat's downloadbill) and records its peak memory, and prints where its time went: interpreter
start, imports, and the run's own phases (logged by the service). The baseline, timed in the same
run, is pandas.read_csv of the same bill plus a merge with the same orders exported to CSV. With
--repeat N both are timed N times, in turn, and the best time of each is kept. Last line:
    reconcile_s=… baseline_s=… ratio=… peak_mb=…
The service database is a SQLite file unless --database-url names a server (PostgreSQL or MariaDB):
then a database of its own is created there for the run and dropped afterwards, and the local rows
stream through the async driver. Needs pandas (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import itertools
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from silverpay.beijing import BEIJING
from silverpay.store.models import Order, Product, User
from silverpay.wechat.v2 import bill

DAY = date(2026, 11, 26)
PLANTED_AMOUNT = 7
PLANTED_UNKNOWN = 5
PLANTED_ABSENT = 3


def out_trade_no(i: int) -> str:
    return f"BN{i:026d}"


def amount(i: int) -> int:
    return 100 + i % 9900


def generate(rows: int, workdir: Path, database_url: str) -> tuple[Path, Path, dict[str, set[str]]]:
    """Write the bill (gzip), the local database and the orders CSV; return what was planted."""
    planted: dict[str, set[str]] = {
        "AMOUNT_MISMATCH": {out_trade_no(i) for i in range(10, 10 + PLANTED_AMOUNT * 1000, 1000)},
        "UNKNOWN_ORDER": {out_trade_no(rows + i) for i in range(PLANTED_UNKNOWN)},
        "PAID_HERE_ABSENT_AT_WECHAT": {out_trade_no(rows + 100 + i) for i in range(PLANTED_ABSENT)},
    }
    start = datetime(DAY.year, DAY.month, DAY.day, 8, tzinfo=BEIJING)
    bill_path = workdir / "bill.txt.gz"
    total = 0
    with gzip.open(bill_path, "wt", encoding="utf-8", compresslevel=1) as out:
        out.write(bill.HEADER + "\r\n")
        bill_numbers = [*range(rows), *range(rows, rows + PLANTED_UNKNOWN)]
        for i in bill_numbers:
            at = (start + timedelta(seconds=i % 40000)).strftime("%Y-%m-%d %H:%M:%S")
            row = bill.Row(time=at, appid="wx8a3fc5d0b7e21946", mch_id="1900000109", transaction_id=f"42{i:026d}",
                           out_trade_no=out_trade_no(i), openid="obench", trade_state="SUCCESS",
                           settlement_fen=amount(i), body="bench")  # fmt: skip
            total += amount(i)
            out.write(bill.format_row(row) + "\r\n")
        out.write(bill.SUMMARY_HEADER + "\r\n" + bill.format_summary(len(bill_numbers), total, 0) + "\r\n")

    env = {**os.environ, "SILVERPAY_DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "silverpay", "db", "upgrade"], env=env, check=True, capture_output=True)
    paid_at = start.astimezone(UTC) + timedelta(hours=1)
    orders_csv = workdir / "orders.csv"
    local_numbers = [*range(rows), *range(rows + 100, rows + 100 + PLANTED_ABSENT)]
    with orders_csv.open("w", newline="") as export:
        writer = csv.writer(export)
        writer.writerow(["out_trade_no", "amount_fen"])
        for i in local_numbers:
            no = out_trade_no(i)
            writer.writerow([no, amount(i) + (1 if no in planted["AMOUNT_MISMATCH"] else 0)])
    # The orders go in batches from the CSV: this process stays small while the child is measured.
    if make_url(database_url).get_backend_name() == "sqlite":
        _insert_sqlite(str(make_url(database_url).database), orders_csv, paid_at)
    else:
        asyncio.run(_insert_server(database_url, orders_csv, paid_at))
    return bill_path, orders_csv, planted


def _orders(orders_csv: Path, size: int) -> Iterator[list[tuple[str, int]]]:
    with orders_csv.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        while batch := [(no, int(fen)) for no, fen in itertools.islice(reader, size)]:
            yield batch


def _insert_sqlite(path: str, orders_csv: Path, paid_at: datetime) -> None:
    """The fast way into a SQLite file: the sqlite3 module, with the text SQLAlchemy stores for times."""
    now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    paid = paid_at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(path)
    db.execute("INSERT INTO users (appid, openid, nickname, avatar_url, session_key, created_at, last_login_at) "
               "VALUES ('wx8a3fc5d0b7e21946', 'obench', '', '', '', ?, ?)", (now, now))  # fmt: skip
    db.execute("INSERT INTO products (name, price_fen, active, created_at) VALUES ('bench', 1, 1, ?)", (now,))
    for batch in _orders(orders_csv, 50_000):
        db.executemany(
            "INSERT INTO orders (out_trade_no, user_id, product_id, quantity, amount_fen, description, status,"
            " client_ip, expires_at, paid_at, needs_review, review_reason, created_at, updated_at, check_attempts)"
            " VALUES (?, 1, 1, 1, ?, 'bench', 'PAID', '127.0.0.1', ?3, ?3, 0, '', ?4, ?4, 0)",
            [(no, fen, paid, now) for no, fen in batch],
        )
    db.commit()
    db.close()


async def _insert_server(url: str, orders_csv: Path, paid_at: datetime) -> None:
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as db:
            user = await db.execute(insert(User).values(
                appid="wx8a3fc5d0b7e21946", openid="obench", nickname="", avatar_url="", session_key="",
                created_at=now, last_login_at=now))  # fmt: skip
            product = await db.execute(insert(Product).values(name="bench", price_fen=1, active=True, created_at=now))
            user_id, product_id = user.inserted_primary_key[0], product.inserted_primary_key[0]
        for batch in _orders(orders_csv, 20_000):
            async with engine.begin() as db:
                await db.execute(insert(Order), [
                    {"out_trade_no": no, "user_id": user_id, "product_id": product_id, "quantity": 1,
                     "amount_fen": fen, "description": "bench", "status": "PAID", "client_ip": "127.0.0.1",
                     "expires_at": paid_at, "paid_at": paid_at, "needs_review": False, "review_reason": "",
                     "created_at": now, "updated_at": now, "check_attempts": 0}
                    for no, fen in batch
                ])  # fmt: skip
    finally:
        await engine.dispose()


@contextmanager
def bench_database(admin_url: str | None, workdir: Path) -> Iterator[str]:
    """A SQLite file in ``workdir``, or a new database on the server of ``admin_url``, dropped afterwards."""
    if admin_url is None:
        yield f"sqlite+aiosqlite:///{workdir / 'silverpay.db'}"
        return
    admin = make_url(admin_url)
    name = f"silverpay_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f"CREATE DATABASE {name}"))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if admin.get_backend_name() == "postgresql" else ""
        asyncio.run(_admin(admin_url, f"DROP DATABASE IF EXISTS {name}{force}"))


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as db:
            await db.execute(text(statement))
    finally:
        await engine.dispose()


def serve_bill(bill_path: Path) -> tuple[ThreadingHTTPServer, str]:
    """Plays WeChat's /pay/downloadbill: answers any signed request with the gzip bill, streamed."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(bill_path.stat().st_size))
            self.end_headers()
            with bill_path.open("rb") as f:
                while chunk := f.read(1 << 16):
                    self.wfile.write(chunk)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# Runs `silverpay reconcile` as the command line does, with the run's INFO log line (its phases) on
# stderr, the time spent importing before it, and at exit its peak memory: VmHWM, the high-water mark
# of this program alone (ru_maxrss would also count the bench's own pages at fork, before exec).
RUNNER = """
import atexit, logging, sys, time
started = time.perf_counter()
def peak():
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(f"peak_kb={kb}", file=sys.stderr)
atexit.register(peak)
import silverpay.cli, silverpay.bootstrap, silverpay.config, silverpay.service.reconcile
print(f"imports={time.perf_counter() - started:.2f}s", file=sys.stderr)
handler = logging.StreamHandler(sys.stderr)
logger = logging.getLogger("silverpay.service.reconcile")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
logger.propagate = False
sys.argv = ["silverpay", *sys.argv[1:]]
silverpay.cli.main()
"""


def interpreter_start_s() -> float:
    """Wall time of a bare `python -c pass` (best of 3): the part of the command no code of ours can change."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def time_reconcile(database_url: str, base_url: str, workdir: Path) -> tuple[float, float, Path, str]:
    csv_out = workdir / "discrepancies.csv"
    env = {
        **os.environ, "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_DATABASE_URL": database_url,
        "SILVERPAY_WECHAT_PAY_BASE": base_url, "SILVERPAY_NOTIFY_URL": "http://127.0.0.1:9/notify",
        "SILVERPAY_AUTO_MIGRATE": "0",
    }  # fmt: skip
    command = [sys.executable, "-c", RUNNER, "reconcile", "--date", DAY.isoformat(), "--csv", str(csv_out)]
    started = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"reconcile failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    peak_mb = int(re.findall(r"peak_kb=([0-9]+)", done.stderr)[-1]) / 1024
    phases = " ".join(re.findall(r"\b\w+=[0-9.]+s", done.stderr))
    return elapsed, peak_mb, csv_out, phases


def time_pandas(bill_path: Path, orders_csv: Path, rows: int) -> tuple[float, int]:
    import pandas as pd

    started = time.perf_counter()
    raw = pd.read_csv(bill_path, skiprows=1, header=None, nrows=rows + PLANTED_UNKNOWN, usecols=[6, 12],
                      names=range(27), dtype=str, compression="gzip")  # fmt: skip
    bill_frame = pd.DataFrame({
        "out_trade_no": raw[6].str.lstrip("`"),
        "wechat_fen": (raw[12].str.lstrip("`").astype(float) * 100).round().astype("int64"),
    })  # fmt: skip
    local = pd.read_csv(orders_csv, dtype={"out_trade_no": str, "amount_fen": "int64"})
    merged = bill_frame.merge(local, on="out_trade_no", how="outer", indicator=True)
    found = int((merged["_merge"] != "both").sum())
    both = merged[merged["_merge"] == "both"]
    found += int((both["wechat_fen"] != both["amount_fen"]).sum())
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL or MariaDB server URL (default: a SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the generated bill, database and CSVs")
    parser.add_argument("--repeat", type=int, default=1, help="time both N times, in turn, and keep the best of each")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-reconcile-"))
    try:
        run(args.rows, args.database_url, workdir, max(1, args.repeat))
    finally:
        if not args.keep:
            shutil.rmtree(workdir)


def run(rows: int, admin_url: str | None, workdir: Path, repeat: int) -> None:
    timings: list[tuple[float, float]] = []
    peak_mb = 0.0
    with bench_database(admin_url, workdir) as database_url:
        started = time.perf_counter()
        bill_path, orders_csv, planted = generate(rows, workdir, database_url)
        backend = make_url(database_url).get_backend_name()
        print(f"generated {rows:,} bill rows and local orders ({backend}) in "
              f"{time.perf_counter() - started:.1f} s ({workdir})")  # fmt: skip
        os.sync()  # the generated files reach the disk now, not while the command is timed
        print(f"interpreter start: {interpreter_start_s():.2f}s")

        server, base_url = serve_bill(bill_path)
        try:
            for _ in range(repeat):  # the two, in turn: a busy machine slows both alike
                reconcile_s, peak, csv_out, phases = time_reconcile(database_url, base_url, workdir)
                baseline_s, pandas_found = time_pandas(bill_path, orders_csv, rows)
                check(csv_out, planted, pandas_found)
                print(f"reconcile {reconcile_s:.2f}s ({phases}); pandas {baseline_s:.2f}s")
                timings.append((reconcile_s, baseline_s))
                peak_mb = max(peak_mb, peak)
        finally:
            server.shutdown()
    reconcile_s, baseline_s = min(t[0] for t in timings), min(t[1] for t in timings)
    print(f"reconcile_s={reconcile_s:.2f} baseline_s={baseline_s:.2f} ratio={reconcile_s / baseline_s:.2f} "
          f"peak_mb={peak_mb:.0f}")  # fmt: skip


def check(csv_out: Path, planted: dict[str, set[str]], pandas_found: int) -> None:
    """Every planted discrepancy found, none invented."""
    with csv_out.open(encoding="utf-8") as f:
        found: dict[str, set[str]] = {}
        for row in csv.DictReader(f):
            found.setdefault(row["kind"], set()).add(row["out_trade_no"])
    missed = {k: v - found.get(k, set()) for k, v in planted.items() if v - found.get(k, set())}
    invented = {k: v - planted.get(k, set()) for k, v in found.items() if v - planted.get(k, set())}
    expected = sum(len(v) for v in planted.values())
    print(f"planted {expected} discrepancies; reconcile found {sum(len(v) for v in found.values())}, "
          f"missed {sum(len(v) for v in missed.values())}, invented {sum(len(v) for v in invented.values())}; "
          f"pandas found {pandas_found}")  # fmt: skip
    if missed or invented:
        raise SystemExit(f"wrong discrepancies: missed={missed} invented={invented}")


if __name__ == "__main__":
    main()
