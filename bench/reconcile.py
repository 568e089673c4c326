"""Reconciliation of a 1,000,000-line bill, against pandas doing the same comparison in memory.

    python bench/reconcile.py [--rows 1000000]

Generates a bill of ROWS payments (WeChat's v2 text format, gzip) and a SQLite database with the
matching local orders, plus planted discrepancies: orders whose local amount differs, payments
WeChat has and we do not know, and local PAID orders absent from the bill. Then it times
`silverpay reconcile` (a subprocess, downloading the bill from a local HTTP server that plays
WeChat's downloadbill) and records its peak memory. The baseline, timed in the same run, is
pandas.read_csv of the same bill plus a merge with the same orders exported to CSV. Last line:
    reconcile_s=… baseline_s=… ratio=… peak_mb=…
Needs pandas (`pip install -e '.[bench]'`). SQLite only: the point is the streaming comparison.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from silverpay.beijing import BEIJING
from silverpay.wechat.v2 import bill

DAY = date(2026, 11, 26)
PLANTED_AMOUNT = 7
PLANTED_UNKNOWN = 5
PLANTED_ABSENT = 3


def out_trade_no(i: int) -> str:
    return f"BN{i:026d}"


def amount(i: int) -> int:
    return 100 + i % 9900


def generate(rows: int, workdir: Path) -> tuple[Path, Path, Path, dict[str, set[str]]]:
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

    db_path = workdir / "silverpay.db"
    env = {**os.environ, "SILVERPAY_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    subprocess.run([sys.executable, "-m", "silverpay", "db", "upgrade"], env=env, check=True, capture_output=True)
    now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    paid_at = (start.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    orders_csv = workdir / "orders.csv"
    db = sqlite3.connect(db_path)
    db.execute("INSERT INTO users (appid, openid, nickname, avatar_url, session_key, created_at, last_login_at) "
               "VALUES ('wx8a3fc5d0b7e21946', 'obench', '', '', '', ?, ?)", (now, now))  # fmt: skip
    db.execute("INSERT INTO products (name, price_fen, active, created_at) VALUES ('bench', 1, 1, ?)", (now,))
    local_numbers = [*range(rows), *range(rows + 100, rows + 100 + PLANTED_ABSENT)]
    with orders_csv.open("w", newline="") as export:
        writer = csv.writer(export)
        writer.writerow(["out_trade_no", "amount_fen"])
        batch = []
        for i in local_numbers:
            no = out_trade_no(i)
            local = amount(i) + (1 if no in planted["AMOUNT_MISMATCH"] else 0)
            writer.writerow([no, local])
            batch.append((no, local, paid_at, now))
            if len(batch) >= 50_000:
                _insert_orders(db, batch)
        _insert_orders(db, batch)
    db.commit()
    db.close()
    return bill_path, db_path, orders_csv, planted


def _insert_orders(db: sqlite3.Connection, batch: list[tuple[str, int, str, str]]) -> None:
    db.executemany(
        "INSERT INTO orders (out_trade_no, user_id, product_id, quantity, amount_fen, description, status, client_ip,"
        " expires_at, paid_at, needs_review, review_reason, created_at, updated_at, check_attempts)"
        " VALUES (?, 1, 1, 1, ?, 'bench', 'PAID', '127.0.0.1', ?3, ?3, 0, '', ?4, ?4, 0)",
        batch,
    )
    batch.clear()


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


def time_reconcile(db_path: Path, base_url: str, workdir: Path) -> tuple[float, float, Path]:
    csv_out = workdir / "discrepancies.csv"
    env = {
        **os.environ, "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "SILVERPAY_WECHAT_PAY_BASE": base_url, "SILVERPAY_NOTIFY_URL": "http://127.0.0.1:9/notify",
        "SILVERPAY_AUTO_MIGRATE": "0",
    }  # fmt: skip
    command = [sys.executable, "-m", "silverpay", "reconcile", "--date", DAY.isoformat(), "--csv", str(csv_out)]
    started = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"reconcile failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    return elapsed, peak_mb, csv_out


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
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-reconcile-"))
    started = time.perf_counter()
    bill_path, db_path, orders_csv, planted = generate(args.rows, workdir)
    print(f"generated {args.rows:,} bill rows and local orders in {time.perf_counter() - started:.1f} s ({workdir})")

    server, base_url = serve_bill(bill_path)
    try:
        reconcile_s, peak_mb, csv_out = time_reconcile(db_path, base_url, workdir)
    finally:
        server.shutdown()
    baseline_s, pandas_found = time_pandas(bill_path, orders_csv, args.rows)

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
    print(f"reconcile_s={reconcile_s:.2f} baseline_s={baseline_s:.2f} ratio={reconcile_s / baseline_s:.2f} "
          f"peak_mb={peak_mb:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
