"""`silverpay admin …`: the merchant's people (operator accounts) and machines (API keys)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

admin_app = typer.Typer(help="Operator accounts and API keys.", no_args_is_help=True)
console = Console()


@admin_app.command("create-api-key")
def create_api_key(name: Annotated[str, typer.Argument(help="what the key is for, e.g. 'order backend'")]) -> None:
    """Create an API key for a merchant backend; its secret is printed once and never stored."""
    from silverpay.commands.database import command_database
    from silverpay.errors import SilverpayError
    from silverpay.service import api_keys

    async def run() -> tuple[dict[str, object], str]:
        async with command_database() as db:
            return await api_keys.create_api_key(db.sessions, name, now=time.time())

    try:
        view, secret = asyncio.run(run())
    except SilverpayError as error:
        console.print(f"[red]{error.message}[/]")
        raise typer.Exit(2) from None
    console.print(f"API key {view['id']} ({view['name']}) created. Its secret, shown only now:", highlight=False)
    print(secret)  # alone on its line, unstyled, for scripts: `silverpay admin create-api-key x | tail -1`


@admin_app.command("list-api-keys")
def list_api_keys() -> None:
    """List API keys (prefixes only: secrets are not stored)."""
    from silverpay.commands.database import command_database
    from silverpay.service import api_keys

    async def run() -> list[dict[str, object]]:
        async with command_database() as db:
            return await api_keys.list_api_keys(db.sessions)

    table = Table("id", "name", "prefix", "created", "last used", "revoked")
    for key in asyncio.run(run()):
        table.add_row(*(str(key[c] or "") for c in ("id", "name", "prefix", "created_at", "last_used_at",
                                                     "revoked_at")))  # fmt: skip
    console.print(table)


@admin_app.command("revoke-api-key")
def revoke_api_key(key: Annotated[str, typer.Argument(help="the key's id, its sk_<prefix>, or its name")]) -> None:
    """Revoke an API key: its next request is refused."""
    from silverpay.commands.database import command_database
    from silverpay.errors import SilverpayError
    from silverpay.service import api_keys

    async def run() -> dict[str, object]:
        async with command_database() as db:
            return await api_keys.revoke_api_key(db.sessions, key, now=time.time())

    try:
        view = asyncio.run(run())
    except SilverpayError as error:
        console.print(f"[red]{error.message}[/]")
        raise typer.Exit(1) from None
    console.print(f"API key {view['id']} ({view['name']}) revoked.")
