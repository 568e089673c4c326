"""`silverpay admin …`: the merchant's people (operator accounts) and machines (API keys)."""

from __future__ import annotations

import typer

admin_app = typer.Typer(help="Operator accounts and API keys.", no_args_is_help=True)
