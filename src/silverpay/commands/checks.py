"""What a command checks before it starts: a problem is one line naming the setting, and exit 2."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from silverpay.config import Settings


def refuse(console: Console, what: str, message: str) -> NoReturn:
    # soft_wrap: one line, however narrow the terminal (or none: a log file)
    console.print(f"[red]{what}:[/] {escape(message)}" if what else f"[red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(2)


def settings_or_exit(console: Console, *, api: bool | None) -> Settings:
    """The environment's settings, checked for what the command uses (``api``: `serve`'s needs, see
    Settings.check_ready; ``None``: only read, the caller checks later)."""
    from pydantic import ValidationError

    from silverpay.config import Settings
    from silverpay.errors import ConfigError

    try:
        settings = Settings()
        if api is not None:
            settings.check_ready(api=api)
    except ValidationError as error:
        problems = "; ".join(
            f"SILVERPAY_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            if problem["loc"] else problem["msg"]
            for problem in error.errors()
        )  # fmt: skip
        refuse(console, "configuration error", problems)
    except ConfigError as error:
        refuse(console, "configuration error", error.message)
    return settings


def database_or_exit(console: Console, url: str, *, setting: str = "SILVERPAY_DATABASE_URL") -> None:
    """Connect to the database once before the command starts: if it cannot be reached, one line
    with its host and the driver's reason (no traceback), exit 2."""
    import asyncio

    from silverpay.errors import ConfigError, DatabaseUnreachable
    from silverpay.store.probe import probe

    try:
        asyncio.run(probe(url))
    except ConfigError as error:
        refuse(console, "configuration error", f"{setting}: {error.message}")
    except DatabaseUnreachable as error:
        refuse(console, "", error.message)
