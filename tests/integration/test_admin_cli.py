"""`silverpay admin …` on every backend (Typer's CliRunner), and the demo's owner account."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from silverpay.cli import app
from silverpay.demo.defaults import DEMO_OPERATOR_EMAIL
from silverpay.demo.walkthrough import demo_owner
from tests.console import client
from tests.service_harness import running_harness

runner = CliRunner()


@pytest.fixture
def admin(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SILVERPAY_DATABASE_URL", database_url)

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["admin", *args], input=input)

    return run


async def _sign_in(database_url: str, email: str, password: str) -> int:
    async with running_harness(database_url) as h, client(h) as browser:
        response = await browser.post("/api/v1/admin/session", json={"email": email, "password": password})
        return response.status_code


def test_create_list_set_password_and_disable(admin, database_url: str) -> None:  # type: ignore[no-untyped-def]
    made = admin("create-user", "Fin@Shop.Example", "--role", "finance", "--password-stdin",
                 input="first long password\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "fin@shop.example created" in made.output and "first long password" not in made.output
    listed = admin("list")
    assert listed.exit_code == 0 and "fin@shop.example" in listed.output and "finance" in listed.output
    assert "active" in listed.output
    again = admin("create-user", "fin@shop.example", "--role", "viewer", "--password-stdin", input="x" * 12 + "\n")
    assert again.exit_code == 1 and "OPERATOR_EXISTS" in again.output
    assert asyncio.run(_sign_in(database_url, "fin@shop.example", "first long password")) == 200
    # Prompted for twice, hidden.
    changed = admin("set-password", "fin@shop.example", input="second long password\nsecond long password\n")
    assert changed.exit_code == 0, changed.output
    assert "second long password" not in changed.output
    assert asyncio.run(_sign_in(database_url, "fin@shop.example", "first long password")) == 401
    assert asyncio.run(_sign_in(database_url, "fin@shop.example", "second long password")) == 200
    disabled = admin("disable", "fin@shop.example")
    assert disabled.exit_code == 0 and "disabled" in admin("list").output
    assert asyncio.run(_sign_in(database_url, "fin@shop.example", "second long password")) == 401
    assert admin("enable", "fin@shop.example").exit_code == 0
    assert asyncio.run(_sign_in(database_url, "fin@shop.example", "second long password")) == 200


def test_refusals(admin) -> None:  # type: ignore[no-untyped-def]
    bad_role = admin("create-user", "a@b.example", "--role", "king", "--password-stdin", input="long enough pw\n")
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    short = admin("create-user", "a@b.example", "--role", "viewer", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "WEAK_PASSWORD" in short.output
    not_email = admin("create-user", "nobody", "--role", "viewer", "--password-stdin", input="long enough pw\n")
    assert not_email.exit_code == 1 and "INVALID_EMAIL" in not_email.output
    missing = admin("disable", "ghost@b.example")
    assert missing.exit_code == 1 and "OPERATOR_NOT_FOUND" in missing.output
    assert "no operator accounts yet" in admin("list").output


async def test_the_demo_owner_gets_a_new_password_each_run(database_url: str) -> None:
    async with running_harness(database_url) as h, client(h) as browser:
        ctx = h.api._transport.app.state.ctx  # type: ignore[attr-defined]
        first = await demo_owner(ctx)
        second = await demo_owner(ctx)  # a second run on the same database
        assert first != second and len(second) >= 16
        old = await browser.post("/api/v1/admin/session", json={"email": DEMO_OPERATOR_EMAIL, "password": first})
        assert old.status_code == 401
        new = await browser.post("/api/v1/admin/session", json={"email": DEMO_OPERATOR_EMAIL, "password": second})
        assert new.status_code == 200 and new.json()["operator"]["role"] == "owner"
