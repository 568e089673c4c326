"""One simulated WeChat platform: its configuration, state, clock, faults and notifier."""

from __future__ import annotations

import asyncio

import httpx

from silverpay.sim.clock import SimClock
from silverpay.sim.config import Merchant, SimConfig
from silverpay.sim.faults import FaultInjector
from silverpay.sim.notifier import Notifier
from silverpay.sim.persistence import InMemory, Persistence, SqliteFile
from silverpay.sim.refund_rules import finish_due, refund_notification
from silverpay.sim.state import SimState


class Simulator:
    def __init__(self, config: SimConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        persistence: Persistence = SqliteFile(config.state_path) if config.state_path else InMemory()
        self.state = SimState(persistence)
        self.clock = SimClock(offset_s=float(self.state.meta.get("clock_offset_s", 0.0)))
        self.injector = FaultInjector(config.seed)
        # Notifications go to whatever notify_url a merchant gave, so no base URL and no proxies.
        self.http = http or httpx.AsyncClient(trust_env=False)
        self.notifier = Notifier(self.state, self.clock, self.injector, self.http, time_scale=config.time_scale)

    def merchant(self, mch_id: str) -> Merchant | None:
        return self.config.merchants.get(mch_id)

    def advance_clock(self, seconds: float) -> float:
        now = self.clock.advance(seconds)
        self.state.set_meta("clock_offset_s", self.clock.offset_s)
        self.finish_refunds()
        self.notifier.wake()
        return now

    def finish_refunds(self) -> None:
        """Refunds whose processing time has passed reach their outcome and are notified."""
        for refund in finish_due(self.state, self.clock.now()):
            trade = self.state.trade(refund.mch_id, refund.out_trade_no)
            merchant = self.merchant(refund.mch_id)
            if refund.notify_url and trade is not None and merchant is not None:
                body = refund_notification(refund, trade.appid, merchant)
                self.notifier.enqueue("refund", refund.mch_id, refund.out_trade_no, refund.notify_url, body)

    async def run_refunds(self, every_s: float = 0.05) -> None:
        while True:
            self.finish_refunds()
            await asyncio.sleep(every_s)

    async def aclose(self) -> None:
        await self.notifier.aclose()
        await self.http.aclose()
        self.state.close()
