"""Throughput of the v2 payment notification endpoint, against a trivial endpoint of the same server.

    python bench/notify.py [--n 2000] [--concurrency 32] [--database-url URL]

Starts `silverpay serve` (one process) on the database (default: a fresh SQLite file), creates N
PAYING orders, then sends one valid signed notification per order from concurrent clients and
checks that every order ended PAID. The baseline is the same server answering GET /healthz with
the same number of requests and clients, measured in the same run. Last line:
    notify_per_s=… baseline_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from silverpay.domain.orders import OrderStatus
from silverpay.serving import free_port
from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.store.db import create_engine, session_factory
from silverpay.store.models import Order, Product, User
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType


def notification(out_trade_no: str, amount_fen: int, n: int) -> bytes:
    params: dict[str, object] = {
        "appid": DEMO_APPID, "bank_type": "OTHERS", "cash_fee": amount_fen, "fee_type": "CNY",
        "is_subscribe": "N", "mch_id": DEMO_MCH_ID, "nonce_str": signing.nonce_str(), "openid": "o-bench",
        "out_trade_no": out_trade_no, "result_code": "SUCCESS", "return_code": "SUCCESS",
        "time_end": "20261127120000", "total_fee": amount_fen, "trade_type": "JSAPI",
        "transaction_id": f"42000000002026112700{n:08d}", "sign_type": "HMAC-SHA256",
    }  # fmt: skip
    params["sign"] = signing.sign(params, DEMO_API_KEY, SignType.HMAC_SHA256)
    return xml.encode(params).encode()


async def seed(database_url: str, n: int) -> list[tuple[str, int]]:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    tag = secrets.token_hex(3)
    async with sessions.begin() as db:
        user = User(appid=DEMO_APPID, openid=f"o-bench-{tag}", nickname="", avatar_url="", session_key="",
                    created_at=now, last_login_at=now)  # fmt: skip
        product = Product(name="bench", price_fen=990, active=True, created_at=now)
        db.add_all([user, product])
        await db.flush()
        orders = [
            Order(
                out_trade_no=f"BENCH{tag}{i:08d}",
                user_id=user.id,
                product_id=product.id,
                quantity=1,
                amount_fen=990,
                description="bench",
                status=OrderStatus.PAYING.value,
                client_ip="127.0.0.1",
                expires_at=now + timedelta(hours=1),
                prepay_id=f"wxbench{i}",
                needs_review=False,
                review_reason="",
                created_at=now,
                updated_at=now,
                wechat_created_at=now,
            )
            for i in range(n)
        ]
        db.add_all(orders)
    await engine.dispose()
    return [(o.out_trade_no, o.amount_fen) for o in orders]


async def count_paid(database_url: str, out_trade_nos: list[str]) -> int:
    engine = create_engine(database_url)
    async with session_factory(engine)() as db:
        query = select(func.count()).where(Order.out_trade_no.in_(out_trade_nos), Order.status == "PAID")
        paid = int((await db.execute(query)).scalar_one())
    await engine.dispose()
    return paid


async def drive(
    requests: list[Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]], concurrency: int, base_url: str
) -> tuple[float, list[float]]:
    """Run the requests from `concurrency` clients; returns (requests per second, latencies in s)."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while queue:
                request = queue.pop()
                start = time.perf_counter()
                response = await request(client)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(requests) / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def start_server(database_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port("127.0.0.1")
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_DATABASE_URL": database_url,
        "SILVERPAY_WECHAT_SIGN_TYPE": "HMAC-SHA256", "SILVERPAY_NOTIFY_URL": f"{base_url}/api/v1/wechat/notify",
    }  # fmt: skip
    with open(workdir / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "silverpay", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    for _ in range(300):
        try:
            if httpx.get(f"{base_url}/healthz").status_code == 200:
                return server, base_url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start; see {workdir / 'serve.log'}")


async def measure(database_url: str, base_url: str, n: int, concurrency: int) -> None:
    orders = await seed(database_url, n)
    bodies = [notification(no, amount, i) for i, (no, amount) in enumerate(orders)]

    def healthz(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.get("/healthz")

    def poster(body: bytes) -> Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]:
        return lambda client: client.post("/api/v1/wechat/notify", content=body)

    await drive([healthz] * 200, concurrency, base_url)  # warm-up
    baseline, base_lat = await drive([healthz] * n, concurrency, base_url)
    notify, lat = await drive([poster(b) for b in bodies], concurrency, base_url)
    paid = await count_paid(database_url, [no for no, _ in orders])
    print(f"database={database_url.split(':', 1)[0]} n={n} concurrency={concurrency} paid={paid}/{n}")
    print(
        f"baseline GET /healthz      {baseline:8.1f}/s  p50={pct(base_lat, 50):6.1f} ms  p99={pct(base_lat, 99):6.1f}"
    )
    print(f"POST /api/v1/wechat/notify {notify:8.1f}/s  p50={pct(lat, 50):6.1f} ms  p99={pct(lat, 99):6.1f}")
    if paid != n:
        raise SystemExit(f"only {paid} of {n} orders ended PAID")
    print(f"notify_per_s={notify:.1f} baseline_per_s={baseline:.1f} ratio={notify / baseline:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default=os.environ.get("SILVERPAY_DATABASE_URL"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    server, base_url = start_server(database_url, workdir)
    try:
        asyncio.run(measure(database_url, base_url, args.n, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
