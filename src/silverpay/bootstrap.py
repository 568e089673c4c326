"""The composition root: ``build_context(settings)`` builds engines, HTTP clients and the gateway
for every entry point (the web app, the worker, reconciliation). It imports no web framework, so the
command-line jobs start fast."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from silverpay.clock import Clock, system_clock
from silverpay.config import Settings
from silverpay.service.context import ServiceContext
from silverpay.store.db import create_engine, session_factory
from silverpay.wechat.gateway import PayGateway
from silverpay.wechat.login import LoginClient
from silverpay.wechat.v2.gateway import V2Gateway
from silverpay.wechat.v2.signing import SignType


def build_context(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Clock = system_clock,
    gateway: PayGateway | None = None,
) -> tuple[ServiceContext, AsyncEngine, Callable[[], Awaitable[None]]]:
    """Everything a use case needs, and how to close it: engines, HTTP clients, the gateway."""
    settings.check_ready()
    # v3 keys are read first: a key that cannot load must stop start-up before anything is opened.
    v3_credentials = settings.v3_credentials() if gateway is None and settings.wechat_api_version == "v3" else None
    engine = create_engine(settings.database_url)
    client = http or httpx.AsyncClient(timeout=settings.wechat_timeout_s, trust_env=False)
    cert_client = None
    if settings.wechat_cert_path and http is None:
        cert_client = httpx.AsyncClient(
            timeout=settings.wechat_timeout_s, trust_env=False,
            cert=(settings.wechat_cert_path, settings.wechat_key_path or settings.wechat_cert_path),
        )  # fmt: skip
    pay_gateway: PayGateway
    if gateway is not None:
        pay_gateway = gateway
    elif v3_credentials is not None:
        from silverpay.wechat.v3.gateway import V3Gateway  # here: the rest of this module is not v3's

        # v3 needs no client certificate: every request is signed with the merchant key instead.
        pay_gateway = V3Gateway(
            client,
            base_url=settings.wechat_pay_base,
            appid=settings.wechat_appid,
            mch_id=settings.wechat_mch_id,
            credentials=v3_credentials,
            clock=clock,
            refresh_interval_s=settings.wechat_platform_refresh_s,
        )
    else:
        pay_gateway = V2Gateway(
            client,
            cert_http=cert_client,
            base_url=settings.wechat_pay_base,
            appid=settings.wechat_appid,
            mch_id=settings.wechat_mch_id,
            api_key=settings.wechat_api_key.get_secret_value(),
            sign_type=SignType(settings.wechat_sign_type),
            clock=clock,
        )
    ctx = ServiceContext(
        sessions=session_factory(engine),
        gateway=pay_gateway,
        login=LoginClient(
            client, settings.wechat_login_base, settings.wechat_appid, settings.wechat_secret.get_secret_value()
        ),
        clock=clock,
        appid=settings.wechat_appid,
        notify_url=settings.notify_url,
        jwt_secret=settings.jwt_secret.get_secret_value(),
        token_ttl_s=settings.token_ttl_s,
        order_ttl_s=settings.order_ttl_s,
        refund_notify_url=settings.effective_refund_notify_url,
        sweep_schedule_s=settings.sweep_schedule,
    )

    async def close() -> None:
        if http is None:
            await client.aclose()
        if cert_client is not None:
            await cert_client.aclose()
        await engine.dispose()

    return ctx, engine, close
