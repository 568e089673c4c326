"""`create_sim_app`: one ASGI app answering both WeChat hosts' paths plus the control API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse

from silverpay.offline_docs import offline_docs_app
from silverpay.sim import control, login, v2_wire, v3_wire
from silverpay.sim.config import SimConfig
from silverpay.sim.mp import control as mp_control
from silverpay.sim.mp import wire as mp_wire
from silverpay.sim.simulator import Simulator


def create_sim_app(config: SimConfig, *, http: httpx.AsyncClient | None = None) -> FastAPI:
    sim = Simulator(config, http=http)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(sim.notifier.run()), asyncio.create_task(sim.run_timers())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await sim.aclose()

    app = offline_docs_app(  # /docs and /redoc work with no internet
        title="silverpay WeChat simulator",
        description="An offline, stateful imitation of WeChat login, WeChat Pay and the mini-program platform's "
        "shipping management, with a control API.",
        lifespan=lifespan,
    )
    app.state.sim = sim
    # The control API is a developer tool: browser demos and tests on other origins may drive it.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
    app.include_router(login.router(sim))
    app.include_router(v2_wire.router(sim))
    app.include_router(v3_wire.router(sim))
    app.include_router(control.router(sim))
    app.include_router(mp_wire.router(sim))
    app.include_router(mp_control.router(sim))

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
