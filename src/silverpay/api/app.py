"""The composition root: ``create_app(settings)`` builds engines, HTTP clients and the gateway.

Nothing connects or starts at import time; the lifespan opens and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from silverpay.api import errors
from silverpay.api.routes import admin, auth, notify, orders, products, reconciliations
from silverpay.clock import Clock, system_clock
from silverpay.config import Settings
from silverpay.jobs.worker import Worker
from silverpay.service.catalogue import seed_demo_catalogue
from silverpay.service.context import ServiceContext
from silverpay.store.db import create_engine, session_factory
from silverpay.store.migrate import upgrade
from silverpay.wechat.gateway import PayGateway
from silverpay.wechat.login import LoginClient
from silverpay.wechat.v2.gateway import V2Gateway
from silverpay.wechat.v2.signing import SignType


@contextlib.asynccontextmanager
async def embedded_worker(ctx: ServiceContext, settings: Settings) -> AsyncIterator[None]:
    """Run the background worker beside the API unless SILVERPAY_EMBEDDED_WORKER=0."""
    if not settings.embedded_worker:
        yield
        return
    worker = Worker(ctx, concurrency=settings.worker_concurrency, batch=settings.worker_batch,
                    rate_per_s=settings.wechat_rate_limit_per_s)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll_s=settings.worker_poll_s))
    try:
        yield
    finally:
        stop.set()
        await task


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


def create_app(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Clock = system_clock,
    gateway: PayGateway | None = None,
) -> FastAPI:
    """``http`` and ``gateway`` are the test seams: pass a client on an ASGI transport, or a fake."""
    ctx, engine, close = build_context(settings, http=http, clock=clock, gateway=gateway)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            if settings.auto_migrate:
                await upgrade(engine)
            if settings.demo_mode:
                await seed_demo_catalogue(ctx)
            async with embedded_worker(ctx, settings):
                yield
        finally:
            await close()

    app = FastAPI(
        title="silverpay",
        description="The server side of WeChat mini-program payments.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.admin_token = settings.admin_token.get_secret_value()
    errors.install(app)
    for module in (auth, products, orders, notify, admin, reconciliations):
        app.include_router(module.router)

    @app.get("/healthz", tags=["operator"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
