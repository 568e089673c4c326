"""`silverpay admin …`: the merchant's people (operator accounts) and machines (API keys) on
SILVERPAY_DATABASE_URL.

These need only the database (no WeChat credentials), so the first owner can be made before the
rest is configured. Passwords are prompted for twice, hidden, or read from stdin
(``--password-stdin``, one line); they are never printed or logged."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

admin_app = typer.Typer(
    help="Operator accounts (people: the console and the admin API) and API keys (merchant backends).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

T = TypeVar("T")
Email = Annotated[str, typer.Argument(help="the operator's email (their sign-in name)", show_default=False)]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin (one line)")]


@contextlib.asynccontextmanager
async def _accounts() -> AsyncIterator[Any]:
    from silverpay.clock import system_clock
    from silverpay.config import Settings
    from silverpay.service.context import OperatorPolicy
    from silverpay.service.operators import AccountsOnly
    from silverpay.store.db import create_engine, session_factory
    from silverpay.store.migrate import upgrade

    settings = Settings()
    engine = create_engine(settings.database_url)
    try:
        if settings.auto_migrate:
            await upgrade(engine)
        policy = OperatorPolicy(idle_timeout_s=settings.console_idle_timeout_s, lock_s=settings.console_login_lock_s)
        yield AccountsOnly(session_factory(engine), system_clock, policy)
    finally:
        await engine.dispose()


def _run(use: Callable[[Any], Awaitable[T]]) -> T:
    """Run a use case on the configured database; a refusal prints its message and exits 1."""
    from silverpay.errors import SilverpayError

    async def run() -> T:
        async with _accounts() as accounts:
            return await use(accounts)

    try:
        return asyncio.run(run())
    except SilverpayError as error:
        err.print(f"[red]{error.code}:[/] {error.message}")
        raise typer.Exit(1) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            err.print("[red]no password on stdin[/]")
            raise typer.Exit(2)
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _cli_actor() -> Any:
    from silverpay.domain.operators import Operator, Role

    return Operator(role=Role.OWNER, name="cli")


@admin_app.command("create-user")
def create_user(
    email: Email,
    role: Annotated[str, typer.Option("--role", help="viewer | support | finance | owner", show_default=False)],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an operator account with a role: viewer reads; support also re-queries, closes and
    resends; finance also refunds and resolves reviews and reconciliation; owner also manages
    users and products."""
    from silverpay.domain.operators import Role
    from silverpay.service import operators

    try:
        chosen = Role.named(role)
    except ValueError as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    password = _password(password_stdin)
    created = _run(lambda ctx: operators.create_operator(ctx, email, password, chosen, actor=_cli_actor()))
    console.print(f"operator {created['email']} created (id {created['id']}, role {created['role']})")


@admin_app.command("set-password")
def set_password(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Set an operator's password; their sessions end and a sign-in lock is lifted."""
    from silverpay.service import operators

    password = _password(password_stdin)
    changed = _run(lambda ctx: operators.set_password(ctx, email, password, actor=_cli_actor()))
    console.print(f"password of {changed['email']} set; their sessions have ended")


@admin_app.command("disable")
def disable(email: Email) -> None:
    """Disable an operator account: it cannot sign in, and its sessions end at once."""
    from silverpay.service import operators

    changed = _run(lambda ctx: operators.disable(ctx, email, actor=_cli_actor()))
    console.print(f"operator {changed['email']} disabled")


@admin_app.command("enable")
def enable(email: Email) -> None:
    """Enable a disabled operator account again."""
    from silverpay.service import operators

    async def use(ctx: Any) -> dict[str, Any]:
        return await operators.update_operator(ctx, await operators.operator_id_of(ctx, email), actor=_cli_actor(),
                                               disabled=False)  # fmt: skip

    console.print(f"operator {_run(use)['email']} enabled")


@admin_app.command("list")
def list_users() -> None:
    """Every operator account with its role and state."""
    from silverpay.service import operators

    accounts = _run(operators.list_operators)
    table = Table("id", "email", "role", "state", "last sign-in", box=None)
    for a in accounts:
        locked = f"locked until {a['locked_until']}" if a["locked_until"] else "active"
        state = "disabled" if a["disabled"] else locked
        table.add_row(str(a["id"]), a["email"], a["role"], state, a["last_login_at"] or "never")
    console.print(table if accounts else "no operator accounts yet: silverpay admin create-user EMAIL --role owner")


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
