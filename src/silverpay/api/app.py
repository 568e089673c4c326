"""The web app: ``create_app(settings)`` = the context from :mod:`silverpay.bootstrap` + routes.

Nothing connects or starts at import time; the lifespan opens and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from silverpay import console
from silverpay.api import errors, openapi
from silverpay.api.limits import BODY_TIMEOUT_S, MAX_BODY_BYTES, BodyLimits
from silverpay.api.request_id import RequestId
from silverpay.api.routes import (
    admin,
    auth,
    health,
    operators,
    orders,
    payments,
    products,
    reconciliations,
    webhooks,
    wechat,
)
from silverpay.bootstrap import WechatPay, built
from silverpay.clock import Clock, system_clock
from silverpay.config import Settings
from silverpay.jobs.worker import Worker
from silverpay.offline_docs import offline_docs_app
from silverpay.service.catalogue import seed_demo_catalogue
from silverpay.service.context import ServiceContext
from silverpay.store.migrate import upgrade


@contextlib.asynccontextmanager
async def embedded_worker(ctx: ServiceContext, settings: Settings) -> AsyncIterator[None]:
    """Run the background worker beside the API unless SILVERPAY_EMBEDDED_WORKER=0."""
    if not settings.embedded_worker:
        yield
        return
    worker = Worker(ctx, concurrency=settings.worker_concurrency, batch=settings.worker_batch,
                    rate_per_s=settings.wechat_rate_limit_per_s, webhook_timeout_s=settings.webhook_timeout_s,
                    webhook_lease_s=settings.webhook_lease_s,
                    webhook_concurrency=settings.webhook_concurrency)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll_s=settings.worker_poll_s))
    try:
        yield
    finally:
        stop.set()
        await task


def create_app(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Clock = system_clock,
    pay: WechatPay | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> FastAPI:
    """``http`` and ``pay`` are the test seams: pass a client on an ASGI transport, or fakes.
    Request bodies are capped at ``max_body_bytes`` and must arrive within ``body_timeout_s``."""
    settings.check_ready()  # missing credentials stop here, before anything is served

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with built(settings, http=http, clock=clock, pay=pay) as parts:
            if settings.auto_migrate:
                await upgrade(parts.engine)
            if settings.demo_mode:
                await seed_demo_catalogue(parts.ctx)
            app.state.ctx = parts.ctx
            async with embedded_worker(parts.ctx, settings):
                yield

    app = offline_docs_app(  # /docs and /redoc work with no internet
        title="silverpay",
        description="The server side of WeChat mini-program payments.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.admin_token = settings.admin_token.get_secret_value()
    app.state.demo_mode = settings.demo_mode
    app.state.wechat_api_version = settings.wechat_api_version
    app.state.secure_cookie = settings.console_secure_cookie
    errors.install(app)
    app.add_middleware(BodyLimits, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.add_middleware(RequestId)  # outermost: every answer carries X-Request-Id, even a 413
    app.router.routes.extend(wechat.routes)
    for module in (auth, products, orders, admin, reconciliations, operators, health, payments, webhooks):
        app.include_router(module.router)
    app.include_router(operators.session_router)
    openapi.install(app, wechat.OPENAPI_PATHS)
    console.install(app, timezone=settings.console_timezone)
    return app


def app_from_environment() -> FastAPI:
    """The app as `silverpay serve` runs it, in each server process: settings from the environment."""
    from silverpay.logs import configure

    settings = Settings()
    configure(fmt=settings.log_format)
    return create_app(settings)
