"""The browser demo served by `silverpay demo` at /demo/: plain files, no build step.

The page runs the mini-program client module (clients/miniprogram/silverpay.js, served as
/demo/silverpay.js from the source checkout) with a browser ``wx`` adapter that talks to the
simulator's control API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
CLIENT_MODULE = Path(__file__).resolve().parents[3] / "clients" / "miniprogram" / "silverpay.js"


def mount_web_demo(app: FastAPI, *, sim_url: str, appid: str) -> None:
    @app.get("/demo/config.json", include_in_schema=False)
    async def config() -> JSONResponse:
        return JSONResponse({"apiBase": "", "simBase": sim_url, "appid": appid})

    @app.get("/demo/silverpay.js", include_in_schema=False)
    async def client_module() -> FileResponse:
        return FileResponse(CLIENT_MODULE, media_type="text/javascript")

    app.mount("/demo", StaticFiles(directory=STATIC, html=True), name="web-demo")
