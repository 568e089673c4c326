"""The browser demo served by `silverpay demo` at /demo/: plain files, no build step.

The page runs the mini-program client module with a browser ``wx`` adapter that talks to the
simulator's control API. ``static/silverpay.js`` is a byte-for-byte copy of
clients/miniprogram/silverpay.js (the one a mini-program copies in), shipped as package data so an
installed wheel serves it too; tests/unit/test_webdemo_package.py keeps the two equal.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount_web_demo(app: FastAPI, *, sim_url: str, appid: str) -> None:
    @app.get("/demo/config.json", include_in_schema=False)
    async def config() -> JSONResponse:
        return JSONResponse({"apiBase": "", "simBase": sim_url, "appid": appid})

    app.mount("/demo", StaticFiles(directory=STATIC, html=True), name="web-demo")
