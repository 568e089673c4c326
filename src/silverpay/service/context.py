"""What every use case may touch, handed in by the composition root (``api/app.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import Clock
from silverpay.wechat.gateway import PayGateway
from silverpay.wechat.login import LoginClient


@dataclass(frozen=True)
class ServiceContext:
    sessions: async_sessionmaker[AsyncSession]
    gateway: PayGateway
    login: LoginClient
    clock: Clock
    appid: str
    notify_url: str
    jwt_secret: str
    token_ttl_s: int
    order_ttl_s: int
