"""`silverpay events list|resend`: the operator's view of events and their webhook deliveries."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

events_app = typer.Typer(help="Events and their webhook deliveries.", no_args_is_help=True)
console = Console()

ApiBase = Annotated[str, typer.Option("--api-base", envvar="SILVERPAY_API_BASE", help="the service's URL")]
AdminToken = Annotated[str, typer.Option("--admin-token", envvar="SILVERPAY_ADMIN_TOKEN", show_default=False,
                                         help="an operator token (viewer to list, support to resend)")]  # fmt: skip


def _call(method: str, url: str, token: str, **kw: Any) -> Any:
    try:
        response = httpx.request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=15,
                                 trust_env=False, **kw)  # fmt: skip
    except httpx.HTTPError as error:
        console.print(f"[red]cannot reach the service: {type(error).__name__}[/]")
        raise typer.Exit(1) from None
    if response.is_error:
        console.print(f"[red]{response.status_code}:[/] {response.text[:300]}", highlight=False)
        raise typer.Exit(1)
    return response.json()


def _deliveries(event: dict[str, Any]) -> str:
    return ", ".join(f"#{d['endpoint_id']} {d['status']} ×{d['attempts']}" for d in event["deliveries"]) or "—"


@events_app.command("list")
def list_events(
    admin_token: AdminToken,
    api_base: ApiBase = "http://127.0.0.1:8000",
    type: Annotated[str | None, typer.Option("--type", help="e.g. order.paid")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="only events with a FAILED delivery")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Events of the last 30 days, newest first, with each endpoint's delivery status."""
    params: dict[str, Any] = {"limit": limit, "delivery_failed": str(failed).lower()}
    if type:
        params["type"] = type
    if since:
        params["since"] = since
    table = Table("id", "type", "created", "object", "deliveries")
    for event in _call("GET", f"{api_base}/api/v1/events", admin_token, params=params):
        obj = event["data"]["object"]
        label = f"{obj.get('object')} {obj.get('id')} {obj.get('status', '')}"
        table.add_row(event["id"], event["type"], str(event["created"]), label, _deliveries(event))
    console.print(table)


@events_app.command("resend")
def resend(
    event_id: Annotated[str, typer.Argument(help="evt_…")],
    admin_token: AdminToken,
    api_base: ApiBase = "http://127.0.0.1:8000",
    endpoint: Annotated[int | None, typer.Option(help="only to this endpoint id")] = None,
) -> None:
    """Deliver an event again (its earlier attempts are kept)."""
    params = {"endpoint": endpoint} if endpoint is not None else {}
    event = _call("POST", f"{api_base}/api/v1/events/{event_id}/resend", admin_token, params=params)
    console.print(f"{event['id']} queued: {_deliveries(event)}", highlight=False)
