"""bench/notify.py's database side: a fresh PostgreSQL database, orders to settle, the check after a round."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from silverpay.domain.orders import OrderStatus
from silverpay.sim.config import DEMO_APPID
from silverpay.store.db import create_engine
from silverpay.store.models import Order, OrderEvent, Product, User

AMOUNT_FEN = 990


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(server_url: str) -> str:
    """A new empty database on the server of ``server_url``; returns its URL (same driver)."""
    if make_url(server_url).get_backend_name() != "postgresql":
        raise SystemExit(
            "bench/notify.py needs PostgreSQL (the baseline runs on psycopg): give a postgresql+asyncpg URL"
        )
    name = f"silverpay_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f"CREATE DATABASE {name}"))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def migrate(database_url: str) -> None:
    env = {**os.environ, "SILVERPAY_DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "silverpay", "db", "upgrade"], env=env, check=True, capture_output=True)


async def _seed_owner(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    user = {"appid": DEMO_APPID, "openid": "o-bench", "nickname": "", "avatar_url": "", "session_key": "",
            "created_at": now, "last_login_at": now}  # fmt: skip
    try:
        async with engine.begin() as db:
            user_id = (await db.execute(insert(User).returning(User.id), user)).scalar_one()
            product_id = (
                await db.execute(
                    insert(Product).returning(Product.id),
                    {"name": "bench", "price_fen": AMOUNT_FEN, "active": True, "created_at": now},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return int(user_id), int(product_id)


def seed_owner(database_url: str) -> tuple[int, int]:
    """The user and the product every bench order belongs to: (user_id, product_id)."""
    return asyncio.run(_seed_owner(database_url))


async def _seed_orders(database_url: str, prefix: str, n: int, owner: tuple[int, int], due: bool) -> list[str]:
    now = datetime.now(UTC)
    numbers = [f"{prefix}{i:08d}" for i in range(n)]
    rows = [
        {"out_trade_no": no, "user_id": owner[0], "product_id": owner[1], "quantity": 1, "amount_fen": AMOUNT_FEN,
         "description": "bench", "status": OrderStatus.PAYING.value, "client_ip": "127.0.0.1",
         "expires_at": now + timedelta(hours=1), "prepay_id": f"wx{no}", "needs_review": False, "review_reason": "",
         "created_at": now, "updated_at": now, "wechat_created_at": now, "check_attempts": 0,
         "next_check_at": now if due else None}
        for no in numbers
    ]  # fmt: skip
    engine = create_engine(database_url)
    try:
        async with engine.begin() as db:
            await db.execute(insert(Order), rows)
        async with engine.connect() as db:  # statistics as a live database has them, for both servers' plans
            await db.execute(text("ANALYZE orders"))
    finally:
        await engine.dispose()
    return numbers


def seed_orders(database_url: str, prefix: str, n: int, owner: tuple[int, int], *, due: bool = False) -> list[str]:
    """N PAYING orders of AMOUNT_FEN numbered PREFIX00000000…, due a sweep now if ``due``; returns
    their out_trade_no."""
    return asyncio.run(_seed_orders(database_url, prefix, n, owner, due))


_SESSIONS = text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")


async def _sessions(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as db:
            return int((await db.execute(_SESSIONS)).scalar_one())
    finally:
        await engine.dispose()


def sessions(database_url: str) -> int:
    """Sessions ever opened on the database, this one included (PostgreSQL 14+): a closed backend
    has reported its own, so a difference counts the connections a server opened meanwhile."""
    return asyncio.run(_sessions(database_url))


async def _check(database_url: str, prefix: str, n: int) -> tuple[list[str], int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as db:
            statuses = Counter(
                (await db.execute(select(Order.status).where(Order.out_trade_no.like(f"{prefix}%")))).scalars()
            )
            events = (
                await db.execute(
                    select(Order.out_trade_no, OrderEvent.detail)
                    .join(OrderEvent, OrderEvent.order_id == Order.id)
                    .where(Order.out_trade_no.like(f"{prefix}%"), OrderEvent.kind == "status")
                )
            ).all()
            opened = int((await db.execute(_SESSIONS)).scalar_one())
    finally:
        await engine.dispose()
    problems = []
    if statuses != Counter({"PAID": n}):
        problems.append(f"statuses {dict(statuses)}, expected {n} PAID")
    to_paid = Counter(no for no, detail in events if detail.get("to") == "PAID")
    if len(to_paid) != n or set(to_paid.values()) != {1}:
        twice = sum(1 for count in to_paid.values() if count > 1)
        problems.append(f"{len(to_paid)} of {n} orders have a PAID status event, {twice} more than one")
    return problems, opened


def check_round(database_url: str, prefix: str, n: int) -> tuple[list[str], int]:
    """What is wrong with the round's orders (each must be PAID with exactly one status event to
    PAID), and sessions() as of the check."""
    return asyncio.run(_check(database_url, prefix, n))
