"""What a command checks before it starts: a problem is one line naming the setting, and exit 2."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from silverpay.config import Settings


def refuse(console: Console, what: str, message: str) -> NoReturn:
    console.print(f"[red]{what}:[/] {escape(message)}")
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
