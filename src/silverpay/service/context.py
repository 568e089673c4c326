"""What every use case may touch, handed in by the composition root (:mod:`silverpay.bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import Clock
from silverpay.store.ledger import Ledger
from silverpay.wechat.gateway import NotificationVerifier, PayClient
from silverpay.wechat.login import LoginClient
from silverpay.wechat.miniapp.push import PushKeys
from silverpay.wechat.miniapp.shipping import ShippingClient


@dataclass(frozen=True)
class OperatorPolicy:
    """Operator sign-in rules (SILVERPAY_CONSOLE_* settings)."""

    idle_timeout_s: int = 1800  # a browser session unused this long is signed out
    max_age_s: int = 12 * 3600  # … and any session this old
    max_failures: int = 5  # failed sign-ins per account before it is locked
    max_ip_failures: int = 20  # failed sign-ins per client address before it is locked
    lock_s: int = 900  # how long a lock lasts; failures older than this are forgotten


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
    operators: OperatorPolicy = field(default_factory=OperatorPolicy)
    mch_id: str = ""
    shipping: ShippingClient | None = None  # the mini-program's shipping management (None: not used)
    push_keys: PushKeys | None = None  # the message-push Token/EncodingAESKey (None: no push endpoint)
    shipping_poll_s: int = 21600  # how often a shipped order's state is read from WeChat
    shipping_retry_s: tuple[int, ...] = (5, 10, 20, 40, 60, 120, 300, 600)  # an upload's retries; the last repeats

    def next_check_delay(self, attempts: int) -> int:
        """Backoff for background checks: the schedule's n-th delay, the last one repeating."""
        return self.sweep_schedule_s[min(attempts, len(self.sweep_schedule_s) - 1)]

    def shipping_retry_delay(self, attempts: int) -> int:
        return self.shipping_retry_s[min(attempts, len(self.shipping_retry_s) - 1)]
