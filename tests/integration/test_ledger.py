"""The ledger's contract, on every backend, for both implementations where they differ (on
PostgreSQL the service runs the asyncpg one; the Core one must hold there too)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from silverpay.domain.orders import OrderStatus
from silverpay.store.db import Database, PoolSettings, open_database
from silverpay.store.ledger import LEASE_S, CoreLedger, Due, Ledger, Settlement
from silverpay.store.ledger_pg import APPLICATION_NAME
from silverpay.store.models import Order, OrderEvent, Product, User
from tests.databases import BACKENDS, emptied

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


# The service's ledger on every backend, and the Core one on PostgreSQL too (elsewhere it is the service's).
VARIANTS = [(backend, "service") for backend in BACKENDS] + [("postgresql", "core")]


@pytest.fixture(params=VARIANTS, ids=[f"{backend}-{impl}" for backend, impl in VARIANTS])
def variant(request: pytest.FixtureRequest, migrated_database: Any) -> tuple[str, str]:
    backend, impl = request.param
    return emptied(migrated_database, backend), impl  # each test starts from no orders


@pytest.fixture
async def db(variant: tuple[str, str]) -> AsyncIterator[tuple[Database, Ledger]]:
    url, impl = variant
    async with open_database(url, PoolSettings(size=4)) as database:
        ledger = database.ledger if impl == "service" else CoreLedger(database.engine)
        yield database, ledger


async def seed(database: Database, count: int = 1, **values: Any) -> list[int]:
    async with database.sessions.begin() as s:
        user = User(appid="wx", openid=uuid.uuid4().hex, nickname="", avatar_url="",
                    session_key="", created_at=NOW, last_login_at=NOW)  # fmt: skip
        product = Product(name="p", price_fen=100, active=True, created_at=NOW)
        s.add_all([user, product])
        await s.flush()
        fields: dict[str, Any] = {
            "user_id": user.id, "product_id": product.id, "quantity": 1, "amount_fen": 100, "description": "d",
            "status": "PAYING", "client_ip": "1", "expires_at": NOW + timedelta(hours=1), "needs_review": False,
            "review_reason": "", "created_at": NOW, "updated_at": NOW, "next_check_at": NOW, "check_attempts": 0,
        }  # fmt: skip
        orders = [Order(out_trade_no=uuid.uuid4().hex, **(fields | values)) for _ in range(count)]
        s.add_all(orders)
        await s.flush()
        return [o.id for o in orders]


async def events(database: Database, order_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with database.sessions() as s:
        rows = await s.execute(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
        return [(e.kind, e.detail) for e in rows.scalars()]


async def test_a_move_and_its_events_land_together(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database)
    async with ledger.transaction() as tx:
        order = await tx.lock(order_id)
        assert order is not None and order.status == "PAYING"
        moved = await tx.move(order, OrderStatus.PAID, now=NOW, source="test", transaction_id="T1", paid_at=NOW)
        assert moved is not None and (moved.status, moved.transaction_id, moved.next_check_at) == ("PAID", "T1", None)
        tx.event(moved, "wechat.notify", {"sign": "secret", "outcome": "settled"}, now=NOW)
    stored = await ledger.get(order_id)
    assert stored == moved  # the computed row is the stored row
    assert await events(database, order_id) == [
        ("status", {"from": "PAYING", "to": "PAID", "source": "test"}),
        ("wechat.notify", {"sign": "[redacted]", "outcome": "settled"}),
    ]


async def test_a_failed_transaction_leaves_nothing(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database)
    with pytest.raises(RuntimeError):
        async with ledger.transaction() as tx:
            order = await tx.lock(order_id)
            assert order is not None
            await tx.move(order, OrderStatus.CLOSED, now=NOW, source="test", closed_at=NOW)
            tx.event(order, "wechat.close", {}, now=NOW)
            raise RuntimeError("boom")
    stored = await ledger.get(order_id)
    assert stored is not None and stored.status == "PAYING"
    assert await events(database, order_id) == []


async def test_the_guard_refuses_a_move_the_state_no_longer_allows(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database, status="CLOSED")
    async with ledger.transaction() as tx:
        order = await tx.lock(order_id)
        assert order is not None
        assert await tx.move(order, OrderStatus.PAID, now=NOW, source="test") is None
    assert await events(database, order_id) == []


async def test_concurrent_settlements_move_once(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database)
    barrier = asyncio.Barrier(4)

    async def settle() -> bool:
        await barrier.wait()
        async with ledger.transaction() as tx:
            order = await tx.lock(order_id)
            assert order is not None
            if order.status != "PAYING":
                return False
            return await tx.move(order, OrderStatus.PAID, now=NOW, source="race") is not None

    assert sorted(await asyncio.gather(*(settle() for _ in range(4)))) == [False, False, False, True]
    assert [k for k, d in await events(database, order_id) if k == "status"] == ["status"]


async def test_flag_and_delivery_record_once(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database)
    for expect_flag, expect_first in ((True, True), (False, False)):
        async with ledger.transaction() as tx:
            order = await tx.lock(order_id)
            assert order is not None
            assert (await tx.flag(order, "amount mismatch", now=NOW) is not None) is expect_flag
            assert await tx.first_delivery("EV-1:nonce", order_id, now=NOW) is expect_first
    kinds = [k for k, _ in await events(database, order_id)]
    assert kinds == ["review.flagged"]


async def test_claims_lease_batches_and_release_reschedules(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    ids = await seed(database, 5)
    now = NOW.timestamp()
    first = await ledger.claim(Due.SWEEP, now=now, limit=3)
    second = await ledger.claim(Due.SWEEP, now=now, limit=3)
    assert len(first) == 3 and len(second) == 2 and not {o.id for o in first} & {o.id for o in second}
    assert await ledger.claim(Due.SWEEP, now=now, limit=3) == []  # all leased
    async with ledger.transaction() as tx:
        assert [o.id for o in await tx.lock_many(list(reversed(ids)))] == sorted(ids)
        await tx.release([(o.id, NOW + timedelta(seconds=60)) for o in first])
    released = await ledger.get(first[0].id)
    assert released is not None and released.lease_until is None and released.check_attempts == 1
    assert await ledger.claim(Due.SWEEP, now=now + 30, limit=10) == []  # not due yet; the rest still leased
    later = await ledger.claim(Due.SWEEP, now=now + LEASE_S + 61, limit=10)
    assert {o.id for o in later} == set(ids)  # due again, and the dead holder's lease ran out


async def test_expiry_claims_unpaid_orders_past_their_time(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (expired,) = await seed(database, status="CREATED", expires_at=NOW - timedelta(seconds=1))
    await seed(database, status="PAID", expires_at=NOW - timedelta(seconds=1))
    await seed(database)  # not expired
    claimed = await ledger.claim(Due.EXPIRY, now=NOW.timestamp(), limit=10)
    assert [o.id for o in claimed] == [expired]


# The asyncpg ledger's own pool; the other backends reconnect through SQLAlchemy's pool.
@pytest.mark.parametrize("variant", [("postgresql", "service")], indirect=True, ids=["postgresql-service"])
async def test_a_connection_dropped_while_idle_is_replaced_at_begin(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database)
    assert await ledger.get(order_id) is not None  # the pool holds an idle connection now
    async with database.engine.connect() as conn:  # a server restart, as far as that connection goes
        await conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                "datname = current_database() AND application_name = :name"),
                           {"name": APPLICATION_NAME})  # fmt: skip
    async with ledger.transaction() as tx:
        assert await tx.lock(order_id) is not None


def settlement(number: str, amount_fen: int = 100, key: str | None = None) -> Settlement:
    return Settlement(number, amount_fen, "4200000001", NOW, NOW, "notify", {"outcome": "settled", "sign": "x"}, key)


async def test_settle_at_once_is_the_guarded_move_in_one_statement(db: tuple[Database, Ledger]) -> None:
    database, ledger = db
    (order_id,) = await seed(database)
    order = await ledger.get(order_id)
    assert order is not None
    if isinstance(ledger, CoreLedger):  # one statement needs PostgreSQL's data-modifying CTEs
        assert await ledger.settle_at_once(settlement(order.out_trade_no)) is False
        return
    assert await ledger.settle_at_once(settlement(order.out_trade_no, 99)) is False  # another amount: not here
    results = await asyncio.gather(
        *(ledger.settle_at_once(settlement(order.out_trade_no, key="EV-1:n")) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]  # concurrent copies: one moves
    paid = await ledger.get(order_id)
    assert paid is not None and (paid.status, paid.transaction_id, paid.paid_at) == ("PAID", "4200000001", NOW)
    assert await events(database, order_id) == [
        ("status", {"from": "PAYING", "to": "PAID", "source": "notify"}),
        ("wechat.notify", {"outcome": "settled", "sign": "[redacted]"}),
    ]
    async with ledger.transaction() as tx:
        assert await tx.first_delivery("EV-1:n", order_id, now=NOW) is False  # recorded with the move
