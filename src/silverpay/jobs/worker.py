"""`silverpay worker`: passes over the background use cases (order expiry, the pending-payment
sweeper, closing numbers at WeChat, refund follow-up, shipping: auto-ship, uploads, the slow poll),
each claiming a batch of due rows, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from silverpay.jobs.limited_client import RateLimitedPayClient
from silverpay.jobs.ratelimit import TokenBucket
from silverpay.service import payments, refunds, shipping
from silverpay.service.context import ServiceContext

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, ctx: ServiceContext, *, concurrency: int = 4, batch: int = 50, rate_per_s: float = 20) -> None:
        self.ctx = dataclasses.replace(ctx, pay=RateLimitedPayClient(ctx.pay, TokenBucket(rate_per_s)))
        self._concurrency = concurrency
        self._batch = batch

    async def run_once(self) -> int:
        """One pass over every job; returns how many rows it handled."""
        handled = 0
        jobs = (payments.expire_due, payments.sweep, payments.close_attempts, refunds.follow_up, shipping.auto_ship,
                shipping.submit_due, shipping.poll_due)  # fmt: skip
        for job in jobs:
            handled += await job(self.ctx, limit=self._batch, concurrency=self._concurrency)
        return handled

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        log.info("worker started")
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # a bad pass must not kill the worker; the rows' leases expire
                log.exception("worker pass failed")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_s):
                        await stop.wait()
        log.info("worker stopped")
