"""`silverpay worker`: passes over the background use cases (order expiry, the pending-payment
sweeper, closing numbers at WeChat, refund follow-up, shipping: auto-ship, uploads, the slow poll),
each claiming a batch of due rows, and — in loops of their own, so a slow merchant endpoint never
delays WeChat work or publishing — publishing events and delivering webhooks, until told to stop.
Between WeChat passes it writes its heartbeat (service/heartbeats.py), which health and /metrics read."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable

from silverpay.jobs.limited_client import RateLimitedPayClient
from silverpay.jobs.ratelimit import TokenBucket
from silverpay.jobs.webhook_http import StreamPoster
from silverpay.service import api_idempotency, events, heartbeats, payments, refunds, shipping, webhooks
from silverpay.service.context import ServiceContext

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0  # idempotency keys past 48 h and events past 30 days are dropped about this often


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
        host, pid = socket.gethostname()[:128], os.getpid()
        self.identity = heartbeats.Identity(f"{host}:{pid}:{secrets.token_hex(4)}", host, pid, ctx.clock())
        self._beaten_at = float("-inf")
        self._passes = 0
        self._error_code: str | None = None

    async def run_once(self) -> int:
        """One pass over the WeChat jobs; returns how many rows it handled."""
        handled = 0
        jobs = (payments.expire_due, payments.sweep, payments.close_attempts, refunds.follow_up, shipping.auto_ship,
                shipping.submit_due, shipping.poll_due)  # fmt: skip
        for job in jobs:
            handled += await job(self.ctx, limit=self._batch, concurrency=self._concurrency)
        return handled

    async def publish_events(self) -> int:
        """One publisher pass (and, about hourly, forgetting old idempotency keys and events)."""
        handled = await events.publish(self.ctx)
        if self.ctx.clock() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = self.ctx.clock()
            await api_idempotency.prune(self.ctx)
            await events.prune(self.ctx)
            await heartbeats.prune(self.ctx)
        return handled

    async def _beating_pass(self) -> int:
        """A pass over the WeChat jobs, this process's heartbeat written first when one is due: a
        wedged pass shows as a stale worker."""
        if self.ctx.clock() - self._beaten_at >= heartbeats.BEAT_EVERY_S:
            await heartbeats.beat(self.ctx, self.identity, passes=self._passes, last_error_code=self._error_code)
            self._beaten_at = self.ctx.clock()
        try:
            handled = await self.run_once()
        except Exception as error:
            self._error_code = heartbeats.error_code(error)
            raise
        finally:
            self._passes += 1
        self._error_code = None
        return handled

    async def deliver_webhooks(self) -> int:
        """One delivery pass (none without a sender)."""
        if self.webhooks is None:
            return 0
        return await webhooks.deliver_due(self.ctx, self.webhooks, limit=max(self._batch, 100))

    async def run_webhook_jobs(self) -> int:
        """Publish, then deliver: one pass of each; returns how many rows they handled."""
        return await self.publish_events() + await self.deliver_webhooks()

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        log.info("worker started")
        async with contextlib.AsyncExitStack() as stack:
            if self.webhooks is None:
                poster = StreamPoster()
                stack.push_async_callback(poster.aclose)
                timeout_s, lease_s, concurrency = self._webhook_options
                self.webhooks = webhooks.WebhookSender(poster, random.Random(), timeout_s, lease_s, concurrency)
            # Three loops: deliveries wait on merchants' servers, never on WeChat work or publishing;
            # the WeChat one beats, so idle it still waits no longer than the heartbeat interval.
            beat_s = min(poll_s, heartbeats.BEAT_EVERY_S)
            loops = ((self._beating_pass, beat_s), (self.publish_events, poll_s), (self.deliver_webhooks, poll_s))
            await asyncio.gather(*(self._loop(jobs, stop, wait_s) for jobs, wait_s in loops))
        try:
            await heartbeats.forget(self.ctx, self.identity)
        except Exception:  # the row goes stale, and is pruned after a day
            log.warning("worker heartbeat not removed", exc_info=True)
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
