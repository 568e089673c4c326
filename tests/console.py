"""Operators for tests: accounts made through the owner API, and a browser-like client per
person (its own cookie jar) signed in through the session API."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.service_harness import ADMIN, SERVICE, Harness

PASSWORD = "correct horse battery staple"


@dataclass
class Browser:
    """A signed-in operator's client: the session cookie in its jar, the CSRF token at hand."""

    client: httpx.AsyncClient
    email: str
    operator_id: int
    csrf: str

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, **kw)

    async def send(self, method: str, path: str, *, csrf: bool = True, **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), **({"X-CSRF-Token": self.csrf} if csrf else {})}
        return await self.client.request(method, path, headers=headers, **kw)


async def create_operator(h: Harness, role: str, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@shop.example"
    response = await h.api.post("/api/v1/admin/operators", json={"email": email, "role": role, "password": password},
                                headers=ADMIN)  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


@contextlib.asynccontextmanager
async def client(h: Harness) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh client on the service (its own cookies), like another browser."""
    app = h.api._transport.app  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SERVICE) as c:
        yield c


@contextlib.asynccontextmanager
async def signed_in(h: Harness, role: str, email: str | None = None) -> AsyncIterator[Browser]:
    account = await create_operator(h, role, email)
    async with client(h) as c:
        response = await c.post("/api/v1/admin/session", json={"email": account["email"], "password": PASSWORD})
        assert response.status_code == 200, response.text
        yield Browser(c, account["email"], account["id"], response.json()["csrf_token"])
