"""`silverpay worker`: passes over the background use cases (order expiry, the pending-payment
sweeper, closing numbers at WeChat, refund follow-up, shipping: auto-ship, uploads, the slow poll),
each claiming a batch of due rows, and — in a loop of its own, so a slow merchant endpoint never
delays WeChat work — publishing events and delivering webhooks, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable

from silverpay.jobs.limited_client import RateLimitedPayClient
from silverpay.jobs.ratelimit import TokenBucket
from silverpay.jobs.webhook_http import StreamPoster
from silverpay.service import api_idempotency, events, payments, refunds, shipping, webhooks
from silverpay.service.context import ServiceContext

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0  # idempotency keys past their 48 h are dropped about this often


class Worker:
    def __init__(
        self, ctx: ServiceContext, *, concurrency: int = 4, batch: int = 50, rate_per_s: float = 20,
        webhooks: webhooks.WebhookSender | None = None, webhook_timeout_s: float = 10.0,
        webhook_lease_s: float = 60.0, webhook_concurrency: int = 16,
    ) -> None:  # fmt: skip
        self.ctx = dataclasses.replace(ctx, pay=RateLimitedPayClient(ctx.pay, TokenBucket(rate_per_s)))
        self._concurrency = concurrency
        self._batch = batch
        self.webhooks = webhooks  # None: `run` makes one (its own HTTP connections, unseeded randomness)
        self._pruned_at = float("-inf")
        self._webhook_options = (webhook_timeout_s, webhook_lease_s, webhook_concurrency)

    async def run_once(self) -> int:
        """One pass over the WeChat jobs; returns how many rows it handled."""
        handled = 0
        jobs = (payments.expire_due, payments.sweep, payments.close_attempts, refunds.follow_up, shipping.auto_ship,
                shipping.submit_due, shipping.poll_due)  # fmt: skip
        for job in jobs:
            handled += await job(self.ctx, limit=self._batch, concurrency=self._concurrency)
        return handled

    async def run_webhook_jobs(self) -> int:
        """One pass of publishing events and delivering webhooks; returns how many rows it handled."""
        handled = await events.publish(self.ctx)
        if self.webhooks is not None:
            handled += await webhooks.deliver_due(self.ctx, self.webhooks, limit=max(self._batch, 100))
        if self.ctx.clock() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = self.ctx.clock()
            await api_idempotency.prune(self.ctx)
        return handled

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        log.info("worker started")
        async with contextlib.AsyncExitStack() as stack:
            if self.webhooks is None:
                poster = StreamPoster()
                stack.push_async_callback(poster.aclose)
                timeout_s, lease_s, concurrency = self._webhook_options
                self.webhooks = webhooks.WebhookSender(poster, random.Random(), timeout_s, lease_s, concurrency)
            await asyncio.gather(self._loop(self.run_once, stop, poll_s),
                                 self._loop(self.run_webhook_jobs, stop, poll_s))  # fmt: skip
        log.info("worker stopped")

    @staticmethod
    async def _loop(jobs: Callable[[], Awaitable[int]], stop: asyncio.Event, poll_s: float) -> None:
        while not stop.is_set():
            try:
                handled = await jobs()
            except Exception:  # a bad pass must not kill the worker; the rows' leases expire
                log.exception("worker pass failed")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_s):
                        await stop.wait()
