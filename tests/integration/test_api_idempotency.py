"""Idempotency-Key takeover on every backend: a run that outlived its claim (taken over after
IN_PROGRESS_S) neither replaces the taker's stored answer nor, failing, removes the taker's record."""

from __future__ import annotations

import asyncio

import pytest

from silverpay.service.api_idempotency import IN_PROGRESS_S, Answer, idempotent, request_hash
from tests.merchant import context
from tests.service_harness import Harness

DIGEST = request_hash("POST", "/api/v1/payments", {"amount_fen": 100})


async def test_a_run_taken_over_cannot_replace_the_takers_answer(svc: Harness) -> None:
    ctx = context(svc)
    started, release = asyncio.Event(), asyncio.Event()

    async def stalled() -> Answer:
        started.set()
        await release.wait()
        return Answer(201, {"run": "first"})

    async def second() -> Answer:
        return Answer(201, {"run": "second"})

    first = asyncio.create_task(idempotent(ctx, "key-1", DIGEST, stalled))
    await started.wait()
    await svc.advance(IN_PROGRESS_S + 1)  # the first claim looks abandoned: the retry takes it over
    assert (await idempotent(ctx, "key-1", DIGEST, second)).body == {"run": "second"}
    release.set()
    assert (await first).body == {"run": "first"}  # it ran; its answer is not stored
    replay = await idempotent(ctx, "key-1", DIGEST, second)
    assert replay.replayed and replay.body == {"run": "second"}


async def test_a_run_taken_over_that_fails_leaves_the_takers_claim(svc: Harness) -> None:
    ctx = context(svc)
    started, release = asyncio.Event(), asyncio.Event()
    taker_started, taker_release = asyncio.Event(), asyncio.Event()

    async def stalled_then_fails() -> Answer:
        started.set()
        await release.wait()
        raise RuntimeError("boom")

    async def taker() -> Answer:
        taker_started.set()
        await taker_release.wait()
        return Answer(201, {"run": "taker"})

    first = asyncio.create_task(idempotent(ctx, "key-2", DIGEST, stalled_then_fails))
    await started.wait()
    await svc.advance(IN_PROGRESS_S + 1)
    second = asyncio.create_task(idempotent(ctx, "key-2", DIGEST, taker))
    await taker_started.wait()
    release.set()
    with pytest.raises(RuntimeError):
        await first
    taker_release.set()
    assert (await second).body == {"run": "taker"}
    replay = await idempotent(ctx, "key-2", DIGEST, taker)
    assert replay.replayed and replay.body == {"run": "taker"}  # the taker's record survived the failure
