"""The docs pages of both servers name no other host: their scripts come from the server itself
(tests/browser/test_docs_offline.py renders them in Chromium with the internet cut off)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from silverpay.api.app import create_app
from silverpay.config import Settings
from silverpay.sim.app import create_sim_app
from silverpay.sim.config import SimConfig

EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']?(?:https?:)?//""")


def apps(tmp_path: Path) -> dict[str, FastAPI]:
    settings = Settings(_env_file=None, demo_mode=True, notify_url="http://shop.test/api/v1/wechat/notify",  # type: ignore[call-arg]
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'silverpay.db'}")  # fmt: skip
    return {"service": create_app(settings), "sim": create_sim_app(SimConfig.single())}


@pytest.mark.parametrize("server", ["service", "sim"])
async def test_docs_pages_load_nothing_from_elsewhere(tmp_path: Path, server: str) -> None:
    app = apps(tmp_path)[server]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        home = await client.get("/")
        assert (home.status_code, home.headers["location"]) == (307, "/docs" if server == "sim" else "/console/")
        for page in ("/docs", "/redoc"):
            html = (await client.get(page)).text
            assert not EXTERNAL.search(html), html
            assets = re.findall(r"""(?:src|href)="(/[^"]+)\"""", html)
            assert any(asset.endswith(".js") for asset in assets), html
            for asset in assets:
                assert (await client.get(asset)).status_code == 200, asset
        redoc = await client.get("/redoc")
        assert redoc.headers["content-security-policy"] == "img-src 'self' data:"  # ReDoc's CDN logo stays out
