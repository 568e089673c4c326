"""Daily bill reconciliation against the simulator's bill, on a database of its own per backend."""

from __future__ import annotations

import csv
import dataclasses
import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from silverpay.beijing import BEIJING
from silverpay.errors import InvalidRequest, ProtocolError
from silverpay.service.reconcile import list_runs, run_reconciliation
from silverpay.store.models import Order, ReconciliationItem
from silverpay.wechat.v2 import bill
from silverpay.wechat.v2.client import V2PayClient
from tests.databases import BACKENDS, emptied
from tests.service_harness import ADMIN, Harness, running_harness
from tests.waiting import eventually


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, migrated_database: object) -> str:
    return emptied(migrated_database, request.param)


@pytest.fixture
async def isolated(empty_database: str) -> AsyncIterator[Harness]:
    """A harness on an empty database: the bill must match exactly this test's orders."""
    async with running_harness(empty_database) as h:
        yield h


async def settled(svc: Harness, shopper: object, order_id: int, status: str = "PAID") -> None:
    async def check() -> bool:
        return (await svc.get(shopper, order_id))["status"] == status  # type: ignore[arg-type]

    await eventually(check)


async def test_clean_day_then_planted_discrepancies(isolated: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    svc = isolated
    alice = await svc.shopper()
    orders = [await svc.paid_order(alice, price_fen=1000 + i) for i in range(4)]
    for order in orders:
        await settled(svc, alice, order["id"])
    refund = await svc.refund(orders[0]["id"], 400)
    await svc.advance(2)

    async def refunded() -> bool:
        return (await svc.get(alice, orders[0]["id"]))["status"] == "PARTIALLY_REFUNDED"

    await eventually(refunded)
    assert refund.status_code == 201
    day = datetime.fromtimestamp(svc.clock(), BEIJING).date()
    await svc.advance(86400)  # WeChat makes a day's bill the next day
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]

    clean = await run_reconciliation(ctx, day, csv_path=str(tmp_path / "clean.csv"))
    assert (clean.bill_rows, clean.discrepancies, clean.unresolved) == (5, 0, 0)

    # Plant: a payment whose notification was lost, a local amount that differs, a PAID order WeChat never saw.
    await svc.faults(notify_drop_rate=1.0)
    lost = await svc.paid_order(alice, price_fen=777)
    async with ctx.sessions.begin() as db:
        await db.execute(update(Order).where(Order.id == orders[1]["id"]).values(amount_fen=1))
        await db.execute(
            update(Order).where(Order.id == orders[2]["id"]).values(out_trade_no="SPGHOST0000000000000000000001")
        )
    lost_day = datetime.fromtimestamp(svc.clock(), BEIJING).date()
    await svc.advance(86400)
    report = await run_reconciliation(ctx, lost_day, csv_path=str(tmp_path / "planted.csv"))
    kinds = sorted((d.kind, d.resolved) for d in report.shown)
    assert ("PAID_AT_WECHAT_NOT_HERE", True) in kinds
    assert (await svc.get(alice, lost["id"]))["status"] == "PAID"  # settled from WeChat's record
    earlier = await run_reconciliation(ctx, day, csv_path=str(tmp_path / "again.csv"))
    found = sorted(d.kind for d in earlier.shown)
    assert found == ["AMOUNT_MISMATCH", "PAID_HERE_ABSENT_AT_WECHAT", "UNKNOWN_ORDER"]
    assert earlier.unresolved == 3
    csv_text = (tmp_path / "again.csv").read_text(encoding="utf-8")
    assert "AMOUNT_MISMATCH" in csv_text and "SPGHOST0000000000000000000001" in csv_text

    listed = (await svc.api.get("/api/v1/admin/reconciliations", headers=ADMIN)).json()
    assert [r["status"] for r in listed][:3] == ["DISCREPANCIES", "CLEAN", "CLEAN"]
    detail = (await svc.api.get(f"/api/v1/admin/reconciliations/{listed[0]['id']}", headers=ADMIN)).json()
    assert len(detail["items"]) == 3


async def test_day_without_a_bill(isolated: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = isolated.api._transport.app.state.ctx  # type: ignore[attr-defined]
    day = datetime.fromtimestamp(isolated.clock(), BEIJING).date()
    await isolated.advance(86400)
    report = await run_reconciliation(ctx, day, csv_path=str(tmp_path / "empty.csv"))
    assert (report.bill_rows, report.discrepancies) == (0, 0)
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8").startswith("kind,out_trade_no")


async def test_a_day_without_a_bill_yet_is_refused_before_anything_is_asked(isolated: Harness) -> None:
    ctx = isolated.api._transport.app.state.ctx  # type: ignore[attr-defined]
    today = datetime.fromtimestamp(isolated.clock(), BEIJING).date()
    with pytest.raises(InvalidRequest, match="past days only"):
        await run_reconciliation(ctx, today)
    assert await list_runs(ctx, limit=1) == []  # no run was started


@pytest.mark.slow
async def test_a_day_large_enough_to_go_in_batches(isolated: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Thousands of local payments WeChat never saw, next to one it did: they travel into DuckDB in many
    small batches, and come back out (results fetched, looked up, recorded) in batches too."""
    svc = isolated
    alice = await svc.shopper()
    seen = await svc.paid_order(alice, price_fen=1500)
    await settled(svc, alice, seen["id"])
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions() as db:
        template = await db.get(Order, seen["id"])
    assert template is not None and template.paid_at is not None
    paid_at = template.paid_at.astimezone(UTC)
    planted = {f"SPBATCH{i:08d}": 100 + i for i in range(7_500)}
    rows = [
        {"out_trade_no": no, "user_id": template.user_id, "product_id": template.product_id, "quantity": 1,
         "amount_fen": fen, "description": "batch", "status": "PAID", "client_ip": "127.0.0.1",
         "expires_at": paid_at, "paid_at": paid_at, "created_at": paid_at, "updated_at": paid_at}
        for no, fen in planted.items()
    ]  # fmt: skip
    async with ctx.sessions.begin() as db:
        for start in range(0, len(rows), 2000):
            await db.execute(insert(Order), rows[start : start + 2000])
    day = datetime.fromtimestamp(svc.clock(), BEIJING).date()
    await svc.advance(86400)

    report = await run_reconciliation(ctx, day, csv_path=str(tmp_path / "batched.csv"), batch=700)
    assert (report.bill_rows, report.by_kind) == (1, {"PAID_HERE_ABSENT_AT_WECHAT": len(planted)})
    assert report.unresolved == len(planted) and len(report.shown) == 50
    with (tmp_path / "batched.csv").open(encoding="utf-8") as f:
        found = {row["out_trade_no"]: row["local_yuan"] for row in csv.DictReader(f)}
    assert found == {no: f"{fen // 100}.{fen % 100:02d}" for no, fen in planted.items()}
    async with ctx.sessions() as db:
        stored = await db.scalar(select(func.count()).where(ReconciliationItem.reconciliation_id == report.run_id))
    assert stored == len(planted)


async def test_a_malformed_bill_fails_the_run_and_says_why(isolated: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """WeChat's bill with an amount that is not yuan with two decimals: the run stops, marked FAILED."""
    row = bill.Row(time="2026-11-26 10:00:00", appid="wx1", mch_id="1900000109", transaction_id="4200001",
                   out_trade_no="SP1", openid="o1", trade_state="SUCCESS", settlement_fen=150)  # fmt: skip
    text = [bill.HEADER, bill.format_row(row).replace("`1.50", "`1.5", 1), bill.SUMMARY_HEADER,
            bill.format_summary(1, 150, 0)]  # fmt: skip
    served = gzip.compress("".join(line + "\r\n" for line in text).encode())
    ctx = isolated.api._transport.app.state.ctx  # type: ignore[attr-defined]
    wechat = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=served)))
    client = V2PayClient(wechat, base_url="http://wechat.test", appid="wx1", mch_id="1900000109", api_key="k" * 32)
    day = datetime.fromtimestamp(isolated.clock(), BEIJING).date() - timedelta(days=1)
    with pytest.raises(ProtocolError, match=r"malformed amount in bill: '1\.5'") as failed:
        await run_reconciliation(dataclasses.replace(ctx, pay=client), day, csv_path=str(tmp_path / "bad.csv"))
    assert failed.value.code == "BILL_FORMAT"
    assert (await list_runs(ctx, limit=1))[0]["status"] == "FAILED"
    assert not (tmp_path / "bad.csv").exists()  # a CSV only of a run that succeeded
    await wechat.aclose()
