"""Webhook deliveries per second to a local receiver against the notification path's own rate,
in one run on the same database:

    python bench/webhooks.py [--n 3000] [--concurrency 32] [--database-url URL]

Needs PostgreSQL and the bench extra, like bench/notify.py, whose machinery it reuses: a fresh
database, `silverpay serve` without its worker, a warm-up round and one round of N v2 payment
notifications (wrk), each order checked PAID with one status event. Those payments are N order.paid
events. Then one `silverpay worker` publishes them and delivers each to a webhook endpoint on a
local receiver (asyncio, keep-alive, answers 200 at once); deliveries/s is every delivery over
the time from the first delivery row to the last attempt (publication included), and every
delivery is checked DELIVERED after exactly one attempt.

Last line:  webhooks_per_s=… notify_per_s=… ratio=…   (goal: ratio ≥ 1, outbound never the backlog)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

import notify
import notify_db
import notify_procs
from silverpay.serving import free_port
from silverpay.sim.config import DEMO_ADMIN_TOKEN
from silverpay.store.db import create_engine
from silverpay.store.models_integration import WebhookAttempt, WebhookDelivery


async def _receive(port: int) -> None:
    """A webhook receiver as cheap as it gets: read the request, answer 200, keep the connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


async def _deliveries(database_url: str) -> tuple[int, int, float]:
    """(deliveries DELIVERED, attempts, seconds from the first delivery row to the last attempt)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            delivered = (await conn.execute(select(func.count()).where(WebhookDelivery.status == "DELIVERED"))).scalar()
            attempts = (await conn.execute(select(func.count()).select_from(WebhookAttempt))).scalar()
            first = (await conn.execute(select(func.min(WebhookDelivery.created_at)))).scalar()
            last = (await conn.execute(select(func.max(WebhookAttempt.at)))).scalar()
    finally:
        await engine.dispose()
    span = (last - first).total_seconds() if first and last else 0.0
    return int(delivered or 0), int(attempts or 0), span


def run(args: argparse.Namespace, database_url: str, workdir: Path) -> None:
    receiver_port = free_port("127.0.0.1")
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(receiver_port)])
    server = notify_procs.start_silverpay(database_url, None, workdir)
    worker: subprocess.Popen[bytes] | None = None
    try:
        base = server.url.split("/api/")[0]
        hook = httpx.post(base + "/api/v1/admin/webhook-endpoints", timeout=10,
                          json={"url": f"http://127.0.0.1:{receiver_port}/hooks", "events": ["order.paid"]},
                          headers={"Authorization": f"Bearer {DEMO_ADMIN_TOKEN}"})  # fmt: skip
        hook.raise_for_status()
        bench = notify.Bench(args, database_url, workdir)
        warm = bench.round(server, min(500, args.n))  # imports, pools, caches; its events are delivered too
        measured = bench.round(server, args.n)
        print(measured.line(), flush=True)
        total = warm.n + measured.n
        env = {**os.environ, "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_AUTO_MIGRATE": "0",
               "SILVERPAY_DATABASE_URL": database_url, "SILVERPAY_WECHAT_SIGN_TYPE": "HMAC-SHA256",
               "SILVERPAY_NOTIFY_URL": server.url, "SILVERPAY_WORKER_BATCH": "500", "SILVERPAY_WORKER_POLL_S": "0.05",
               "SILVERPAY_WEBHOOK_CONCURRENCY": str(args.webhook_concurrency)}  # fmt: skip
        with (workdir / "worker.log").open("wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "silverpay", "worker"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 600
        while (done := asyncio.run(_deliveries(database_url)))[0] < total:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"{done[0]} of {total} delivered; see {workdir / 'worker.log'}")
            time.sleep(0.2)
        delivered, attempts, span = done
        if attempts != delivered:
            raise SystemExit(f"{attempts} attempts for {delivered} deliveries: some were sent twice")
        per_s = delivered / span
        print(f"webhooks     {delivered:6d} deliveries   {per_s:7.1f}/s  (one worker, concurrency "
              f"{args.webhook_concurrency}, each DELIVERED after one attempt)")  # fmt: skip
        print(f"webhooks_per_s={per_s:.1f} notify_per_s={measured.per_s:.1f} ratio={per_s / measured.per_s:.2f}")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        server.stop()
        receiver.terminate()
        receiver.wait(timeout=10)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--receiver":
        asyncio.run(_receive(int(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="notifications (so order.paid events) in the round")
    parser.add_argument("--concurrency", type=int, default=32, help="wrk connections for the notifications")
    parser.add_argument(
        "--webhook-concurrency", type=int, default=16, help="SILVERPAY_WEBHOOK_CONCURRENCY (the default)"
    )
    parser.add_argument("--database-url", default=os.environ.get("SILVERPAY_BENCH_POSTGRES_URL", notify.DEFAULT_SERVER))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-webhooks-"))
    database_url = notify_db.create_database(args.database_url)
    print(f"database {database_url.rsplit('/', 1)[1]}, work files in {workdir}", flush=True)
    try:
        notify_db.migrate(database_url)
        run(args, database_url, workdir)
    finally:
        notify_db.drop_database(args.database_url, database_url)


if __name__ == "__main__":
    main()
