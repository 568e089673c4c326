"""One simulated WeChat platform: its configuration, state, clock, faults, keys and notifier, and
the mini-program platform's tokens, shipping management and pushes beside the pay platform."""

from __future__ import annotations

import asyncio
import functools

import httpx

from silverpay.sim.clock import SimClock
from silverpay.sim.config import PLATFORM_MODES, Merchant, SimConfig
from silverpay.sim.core.refunds import finish_due
from silverpay.sim.faults import FaultInjector
from silverpay.sim.mp.pushes import CHANNEL, PUSH_KIND, Pusher
from silverpay.sim.mp.shipping import Shipping
from silverpay.sim.mp.store import MpState
from silverpay.sim.notifications import refund_body
from silverpay.sim.notifier import Notifier
from silverpay.sim.persistence import InMemory, Persistence, SqliteFile
from silverpay.sim.platform import Platform
from silverpay.sim.state import SimState
from silverpay.sim.v3_json import BillFile


class Simulator:
    def __init__(self, config: SimConfig, *, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        persistence: Persistence = SqliteFile(config.state_path) if config.state_path else InMemory()
        self.state = SimState(persistence)
        self.mp_state = MpState(persistence)
        self.clock = SimClock(offset_s=float(self.state.meta.get("clock_offset_s", 0.0)))
        self.injector = FaultInjector(config.seed)
        self.platform_mode = str(self.state.meta.get("platform_mode", config.platform_mode))
        self.bill_files: dict[str, BillFile] = {}  # v3 download_url tokens (short-lived, not persisted)
        # Notifications go to whatever notify_url a merchant gave, so no base URL and no proxies.
        self.http = http or httpx.AsyncClient(trust_env=False)
        self.notifier = Notifier(self.state, self.clock, self.injector, self.http, time_scale=config.time_scale,
                                 sign_v3=self.sign_notification, channels={PUSH_KIND: CHANNEL})  # fmt: skip
        self.shipping = Shipping(config, self.state, self.mp_state, self.injector,
                                 Pusher(self.mp_state, self.notifier, self.injector))  # fmt: skip
        self._apply_push_config()

    @functools.cached_property
    def platform(self) -> Platform:
        """The configured key, else the one a state file kept (merchants cached its public key),
        else a new one; made on first use, since only v3 needs it and RSA key generation is slow."""
        kept = self.state.meta.get("platform_key_pem")
        platform = Platform.create(self.config.platform_key_pem or kept)
        if not self.config.platform_key_pem and not kept:
            self.state.set_meta("platform_key_pem", platform.key_pem().decode())
        return platform

    def _apply_push_config(self) -> None:
        """Push settings given at start (CLI, environment) win over those a state file kept."""
        for appid, push in self.config.pushes.items():
            app = self.mp_state.app(appid)
            app.push_url, app.push_token, app.push_aes_key = push.url, push.token, push.aes_key
            app.push_mode, app.push_format = push.mode, push.format
            self.mp_state.save_app(app)

    def merchant(self, mch_id: str) -> Merchant | None:
        return self.config.merchants.get(mch_id)

    def set_platform_mode(self, mode: str) -> None:
        if mode not in PLATFORM_MODES:
            raise ValueError(f"mode must be one of {', '.join(PLATFORM_MODES)}")
        self.platform_mode = mode
        self.state.set_meta("platform_mode", mode)

    def signing_serial(self, requested: str | None = None) -> str:
        """The key name for a v3 signature: the one the request asked for, else the mode's. In
        ``mixed`` mode either, whatever was asked: during WeChat's switch the request's serial only
        shifts the share of answers signed with the public key."""
        if requested and self.platform.names(requested) and self.platform_mode != "mixed":
            return self.platform.public_key_id if requested == self.platform.public_key_id else self.platform.serial
        return self.platform.serial_for(self.platform_mode, lambda: self.injector.roll(0.5))

    def sign_notification(self, body: bytes) -> dict[str, str]:
        return self.platform.headers(body, serial=self.signing_serial())

    def advance_clock(self, seconds: float) -> float:
        now = self.clock.advance(seconds)
        self.state.set_meta("clock_offset_s", self.clock.offset_s)
        self.run_due()
        return now

    def run_due(self) -> None:
        """What the passing of (simulated) time does: refunds finish, then shipping's timers
        (auto-confirmation, settlement, the 48-hour reminder) fire; pushes and notifications go out."""
        self.finish_refunds()
        self.shipping.tick(self.clock.now())
        self.notifier.wake()

    def finish_refunds(self) -> None:
        """Refunds whose processing time has passed reach their outcome and are notified."""
        now = self.clock.now()
        for refund in finish_due(self.state, now):
            trade = self.state.trade(refund.mch_id, refund.out_trade_no)
            merchant = self.merchant(refund.mch_id)
            if not refund.notify_url or trade is None or merchant is None:
                continue
            body = refund_body(refund, trade, merchant, now)
            self.notifier.enqueue("refund", refund.mch_id, refund.out_trade_no, refund.notify_url, body,
                                  api=refund.api)  # fmt: skip

    async def run_timers(self, every_s: float = 0.05) -> None:
        while True:
            self.finish_refunds()
            self.shipping.tick(self.clock.now())
            await asyncio.sleep(every_s)

    async def aclose(self) -> None:
        await self.notifier.aclose()
        await self.http.aclose()
        self.state.close()
