"""What every use case may touch, handed in by the composition root (:mod:`silverpay.bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import Clock
from silverpay.store.ledger import Ledger
from silverpay.wechat.gateway import NotificationVerifier, PayClient
from silverpay.wechat.login import LoginClient


@dataclass(frozen=True)
class ServiceContext:
    sessions: async_sessionmaker[AsyncSession]  # the ORM, for the cold paths (catalogue, admin, refunds)
    ledger: Ledger  # order state changes: the hot paths
    pay: PayClient
    verifier: NotificationVerifier
    login: LoginClient
    clock: Clock
    appid: str
    notify_url: str
    jwt_secret: str
    token_ttl_s: int
    order_ttl_s: int
    refund_notify_url: str = ""
    sweep_schedule_s: tuple[int, ...] = (15, 30, 60, 120, 300, 600, 1800)

    def next_check_delay(self, attempts: int) -> int:
        """Backoff for background checks: the schedule's n-th delay, the last one repeating."""
        return self.sweep_schedule_s[min(attempts, len(self.sweep_schedule_s) - 1)]
