"""The web app: ``create_app(settings)`` = the context from :mod:`silverpay.bootstrap` + routes.

Nothing connects or starts at import time; the lifespan opens and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from silverpay.api import errors
from silverpay.api.routes import admin, auth, notify, orders, products, reconciliations
from silverpay.bootstrap import build_context
from silverpay.clock import Clock, system_clock
from silverpay.config import Settings
from silverpay.jobs.worker import Worker
from silverpay.service.catalogue import seed_demo_catalogue
from silverpay.service.context import ServiceContext
from silverpay.store.migrate import upgrade
from silverpay.wechat.gateway import PayGateway


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
