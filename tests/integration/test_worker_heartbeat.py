"""Worker heartbeats, every backend: a running worker writes one, health and /metrics show it, a
worker that stopped beating is reported stale (the clock moved), a clean stop removes its row."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import func, select

from silverpay.errors import UpstreamUnavailable
from silverpay.service import heartbeats
from silverpay.store.db import create_engine
from silverpay.store.models_heartbeat import WorkerHeartbeat
from tests.console import signed_in
from tests.integration.test_observability import ctx_of, scrape, value
from tests.service_harness import ADMIN, Harness, running_harness
from tests.waiting import eventually


async def health_worker(svc: Harness) -> dict[str, Any]:
    response = await svc.api.get("/api/v1/admin/health", headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json()["worker"])


async def test_the_embedded_worker_beats_and_a_clean_stop_removes_its_row(database_url: str) -> None:
    async with running_harness(database_url, embedded_worker=True) as h:

        async def beating() -> bool:
            return (await health_worker(h))["state"] == "ok"

        await eventually(beating)
        worker = await health_worker(h)
        [me] = worker["workers"]
        assert (me["host"], me["pid"]) == (socket.gethostname(), os.getpid())
        assert me["id"].startswith(f"{me['host']}:{me['pid']}:") and me["last_error_code"] is None
        assert worker["heartbeat_at"] == me["seen_at"] and 0 <= me["age_s"] <= worker["live_within_s"]
        samples = await scrape(h)
        assert value(samples, "silverpay_workers_live") == 1
        assert 0 <= value(samples, "silverpay_worker_heartbeat_age_seconds") <= heartbeats.LIVE_WITHIN_S
        async with signed_in(h, "viewer") as viewer:
            viewer.client.cookies.set("silverpay_lang", "en")
            page = (await viewer.get("/console/health")).text
            assert 'data-state="ok"' in page and f"{me['host']} · pid {me['pid']}" in page and "passes" in page
    engine = create_engine(database_url)  # the service has stopped, its worker with it
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(WorkerHeartbeat))).scalar_one() == 0
    finally:
        await engine.dispose()


async def test_a_running_worker_updates_its_row_and_forgets_it_on_stop(svc: Harness) -> None:
    worker, stop = svc.worker(), asyncio.Event()

    async def passes() -> int | None:
        mine = [w["passes"] for w in (await health_worker(svc))["workers"] if w["id"] == worker.identity.id]
        return mine[0] if mine else None

    task = asyncio.create_task(worker.run(stop, poll_s=0.01))
    try:
        await eventually(lambda: _equals(passes(), 0))  # the first beat, before the first pass
        svc.clock.offset += heartbeats.BEAT_EVERY_S  # the next beat is due: the same row, its passes counted
        await eventually(lambda: _above(passes(), 0))
        assert (await health_worker(svc))["stale_workers"] == 0
    finally:
        stop.set()
        await task
    after = await health_worker(svc)
    assert (after["state"], after["heartbeat_at"], after["workers"], after["stale_workers"]) == ("none", None, [], 0)


async def _equals(reading: Awaitable[object], expected: object) -> bool:
    return await reading == expected


async def _above(reading: Awaitable[int | None], floor: int) -> bool:
    n = await reading
    return n is not None and n > floor


async def test_a_worker_that_stopped_beating_is_stale_then_pruned(svc: Harness) -> None:
    ctx = ctx_of(svc)
    gone = heartbeats.Identity("elsewhere:4242:0badcafe", "elsewhere", 4242, ctx.clock() - 3600)
    await heartbeats.beat(ctx, gone, passes=7, last_error_code="UPSTREAM_UNAVAILABLE")
    live = await health_worker(svc)
    assert live["state"] == "ok"
    assert [(w["host"], w["pid"], w["passes"], w["last_error_code"]) for w in live["workers"]] == [
        ("elsewhere", 4242, 7, "UPSTREAM_UNAVAILABLE")]  # fmt: skip
    svc.clock.offset += heartbeats.LIVE_WITHIN_S + 1  # it died without a clean stop: no more beats
    stale = await health_worker(svc)
    assert (stale["state"], stale["workers"], stale["stale_workers"]) == ("stale", [], 1)
    assert stale["heartbeat_at"] == live["heartbeat_at"] and stale["age_s"] >= heartbeats.LIVE_WITHIN_S + 1
    samples = await scrape(svc)
    assert value(samples, "silverpay_workers_live") == 0
    assert value(samples, "silverpay_worker_heartbeat_age_seconds") >= heartbeats.LIVE_WITHIN_S + 1
    async with signed_in(svc, "viewer") as viewer:
        page = (await viewer.get("/console/health")).text
        assert 'data-state="stale"' in page and "已失联" in page
    svc.clock.offset += heartbeats.KEEP_S
    assert await heartbeats.prune(ctx) == 1
    assert (await health_worker(svc))["state"] == "none"
    assert ("silverpay_worker_heartbeat_age_seconds", ()) not in await scrape(svc)  # absent, not 0


async def test_a_failing_pass_shows_its_error_code_in_the_heartbeat(svc: Harness) -> None:
    worker, stop = svc.worker(), asyncio.Event()

    async def failing_pass() -> int:
        raise UpstreamUnavailable("WeChat did not answer")

    worker.run_once = failing_pass  # type: ignore[method-assign]

    async def error_codes() -> list[str | None]:
        return [w["last_error_code"] for w in (await health_worker(svc))["workers"]]

    task = asyncio.create_task(worker.run(stop, poll_s=0.01))
    try:
        await eventually(lambda: _equals(error_codes(), [None]))  # the first beat, before any pass
        svc.clock.offset += heartbeats.BEAT_EVERY_S
        await eventually(lambda: _equals(error_codes(), ["UPSTREAM_UNAVAILABLE"]))
    finally:
        stop.set()
        await task
