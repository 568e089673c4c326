"""`silverpay worker`: sweeps pending payments, expires unpaid orders, follows refunds up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from silverpay.clock import utc
from silverpay.domain.orders import OrderStatus
from silverpay.domain.refunds import RefundStatus
from silverpay.errors import SilverpayError, UpstreamError
from silverpay.jobs.claims import claim, release
from silverpay.jobs.limited_gateway import RateLimitedGateway
from silverpay.jobs.ratelimit import TokenBucket
from silverpay.service import payments, refunds
from silverpay.service.context import ServiceContext
from silverpay.store import repo
from silverpay.store.models import Order, Refund

log = logging.getLogger(__name__)
RETRY_EXPIRY_S = 30  # a close that WeChat could not confirm is tried again after this


class Worker:
    def __init__(self, ctx: ServiceContext, *, concurrency: int = 4, batch: int = 50, rate_per_s: float = 20) -> None:
        self.ctx = dataclasses.replace(ctx, gateway=RateLimitedGateway(ctx.gateway, TokenBucket(rate_per_s)))
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch

    async def run_once(self) -> int:
        """One pass over every job; returns how many rows it handled."""
        handled = 0
        for job in (self._expire, self._sweep, self._follow_refunds):
            handled += await job()
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

    async def _each(self, ids: list[int], handle: Callable[[int], Awaitable[None]]) -> int:
        async def bounded(row_id: int) -> None:
            async with self._slots:
                try:
                    await handle(row_id)
                except Exception:
                    log.exception("job failed for row %s", row_id)

        await asyncio.gather(*(bounded(i) for i in ids))
        return len(ids)

    # Pending payments: ask WeChat on the backoff schedule until the order settles or expires.
    async def _sweep(self) -> int:
        now = self.ctx.clock()
        ids = await claim(self.ctx.sessions, Order, [Order.status == OrderStatus.PAYING.value,
                          Order.next_check_at <= utc(now), Order.expires_at > utc(now)], now=now,
                          limit=self._batch, order_by=Order.next_check_at)  # fmt: skip
        return await self._each(ids, self._sweep_one)

    async def _sweep_one(self, order_id: int) -> None:
        async with self.ctx.sessions() as db:
            order = await db.get(Order, order_id)
        if order is None:
            return
        with contextlib.suppress(UpstreamError):  # unknown is not failure: recorded, asked again later
            order = await payments.sync_from_wechat(self.ctx, order, source="sweeper")
        done = OrderStatus(order.status).terminal
        delay = None if done else self.ctx.next_check_delay(order.check_attempts + 1)
        await release(self.ctx.sessions, Order, order_id, now=self.ctx.clock(), delay_s=delay)

    # Expiry: close unpaid orders past their TTL, at WeChat first.
    async def _expire(self) -> int:
        now = self.ctx.clock()
        ids = await claim(self.ctx.sessions, Order, [Order.status.in_([OrderStatus.CREATED.value,
                          OrderStatus.PAYING.value]), Order.expires_at <= utc(now)], now=now,
                          limit=self._batch, order_by=Order.expires_at)  # fmt: skip
        return await self._each(ids, self._expire_one)

    async def _expire_one(self, order_id: int) -> None:
        async with self.ctx.sessions() as db:
            order = await db.get(Order, order_id)
        if order is None:
            return
        try:
            if order.status == OrderStatus.CREATED:  # never reached WeChat
                now = self.ctx.clock()
                async with self.ctx.sessions.begin() as db:
                    locked = await repo.lock_order(db, order_id)
                    if locked.status == OrderStatus.CREATED:
                        await repo.transition(db, locked, OrderStatus.CLOSED, now=utc(now), source="expiry",
                                              closed_at=utc(now), lease_until=None)  # fmt: skip
                        return
            await payments.close_order(self.ctx, order, source="expiry")
        except SilverpayError:  # logged and recorded where it happened; try again after a pause
            await release(self.ctx.sessions, Order, order_id, now=self.ctx.clock(), delay_s=None,
                          attempts_increment=0, hold_s=RETRY_EXPIRY_S)  # fmt: skip
            return
        await release(self.ctx.sessions, Order, order_id, now=self.ctx.clock(), delay_s=None, attempts_increment=0)

    # Refunds WeChat has not settled yet: re-send unacknowledged ones, query accepted ones.
    async def _follow_refunds(self) -> int:
        now = self.ctx.clock()
        ids = await claim(self.ctx.sessions, Refund, [Refund.status == RefundStatus.PROCESSING.value,
                          Refund.next_check_at <= utc(now)], now=now, limit=self._batch,
                          order_by=Refund.next_check_at)  # fmt: skip
        return await self._each(ids, self._follow_refund)

    async def _follow_refund(self, refund_id: int) -> None:
        async with self.ctx.sessions() as db:
            refund = await db.get(Refund, refund_id)
        if refund is None:
            return
        try:
            refund = await refunds.sync(self.ctx, refund)
        except UpstreamError as error:
            log.warning("refund follow-up of %s deferred: %s", refund.out_refund_no, error.message)
        done = RefundStatus(refund.status) is not RefundStatus.PROCESSING
        delay = None if done else self.ctx.next_check_delay(refund.check_attempts + 1)
        await release(self.ctx.sessions, Refund, refund_id, now=self.ctx.clock(), delay_s=delay)
