"""`silverpay listen` and `silverpay trigger`: a merchant developer's tools against a running
service (a demo, or a service whose WeChat is the simulator)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from silverpay.demo.defaults import DEMO_APPID
from silverpay.webhooks import HEADER, sign_header

console = Console()

ApiBase = Annotated[str, typer.Option("--api-base", envvar="SILVERPAY_API_BASE", help="the service's URL")]
ApiKey = Annotated[str, typer.Option("--api-key", envvar="SILVERPAY_API_KEY", show_default=False,
                                     help="sk_… from `silverpay admin create-api-key`")]  # fmt: skip
TRIGGERS = ("order.paid", "order.closed", "refund.succeeded")


def local_secret(api_key: str) -> str:
    """The secret `listen` signs with: derived from the API key, so it stays the same run after run."""
    return "whsec_" + hmac.new(api_key.encode(), b"silverpay listen", hashlib.sha256).hexdigest()[:40]


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def listen(
    forward_to: Annotated[str, typer.Option("--forward-to", help="your local webhook URL")],
    api_key: ApiKey,
    api_base: ApiBase = "http://127.0.0.1:8000",
    events: Annotated[str, typer.Option("--events", help="comma-separated types (default: all)")] = "",
    max_events: Annotated[int, typer.Option(help="exit after forwarding this many (0: never)")] = 0,
) -> None:
    """Stream the service's events (long-poll) and forward each to --forward-to, signed with a
    stable local secret (printed), showing the answer per event."""
    secret = local_secret(api_key)
    types = [t.strip() for t in events.split(",") if t.strip()]
    console.print(f"Ready. Forwarding events from {api_base} to [bold]{forward_to}[/]", highlight=False)
    print(f"Your local webhook signing secret is {secret}", flush=True)  # one unwrapped line, for scripts
    forwarded = 0
    cursor: int | None = None
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(timeout=40, trust_env=False) as client:
        while True:
            params: dict[str, Any] = {"wait_s": 25 if cursor is not None else 0, "types": types}
            if cursor is not None:
                params["after"] = cursor
            try:
                response = client.get(f"{api_base}/api/v1/events/feed", params=params, headers=headers)
            except httpx.HTTPError as error:
                console.print(f"[yellow]service unreachable ({type(error).__name__}); retrying[/]")
                time.sleep(2)
                continue
            if response.status_code == 401:
                console.print("[red]the service refused the API key[/]")
                raise typer.Exit(1)
            response.raise_for_status()
            page = response.json()
            cursor = int(page["next"])
            for event in page["events"]:
                body = _body(event)
                signed = {HEADER: sign_header(body, [secret], int(time.time())), "Content-Type": "application/json"}
                started = time.perf_counter()
                try:
                    answer = client.post(forward_to, content=body, headers=signed, timeout=10)
                    status = f"[{'green' if answer.is_success else 'red'}]{answer.status_code}[/]"
                except httpx.HTTPError as error:
                    status = f"[red]{type(error).__name__}[/]"
                took = int((time.perf_counter() - started) * 1000)
                console.print(f"{event['type']:<20} {event['id']:<14} → {status} {took} ms", highlight=False)
                forwarded += 1
                if max_events and forwarded >= max_events:
                    return


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.is_error:
        console.print(f"[red]{response.request.method} {response.request.url.path} → {response.status_code}:[/] "
                      f"{response.text[:300]}", highlight=False)  # fmt: skip
        raise typer.Exit(1)
    result: dict[str, Any] = response.json()
    return result


def _wait_for(client: httpx.Client, path: str, statuses: tuple[str, ...], within_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        payment = _check(client.get(path))
        if payment["status"] in statuses:
            return payment
        if time.monotonic() > deadline:
            console.print(f"[red]the payment stayed {payment['status']}[/]")
            raise typer.Exit(1)
        time.sleep(0.2)


def trigger(
    event: Annotated[str, typer.Argument(help=" | ".join(TRIGGERS))],
    api_key: ApiKey,
    api_base: ApiBase = "http://127.0.0.1:8000",
    sim_base: Annotated[
        str, typer.Option("--sim-base", envvar="SILVERPAY_SIM_BASE", help="the simulator the service uses as WeChat")
    ] = "http://127.0.0.1:9000",
    appid: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_APPID")] = DEMO_APPID,
    amount_fen: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """Make a real event happen: a payment created through the payments API, then paid by a
    simulated shopper, cancelled, or paid and refunded (the simulator driven through its control API)."""
    if event not in TRIGGERS:
        console.print(f"[red]choose one of {', '.join(TRIGGERS)}[/]")
        raise typer.Exit(2)
    auth = {"Authorization": f"Bearer {api_key}"}
    with (
        httpx.Client(base_url=api_base, headers=auth, timeout=15, trust_env=False) as api,
        httpx.Client(base_url=sim_base, timeout=15, trust_env=False) as sim,
    ):
        shopper = _check(sim.post("/sim/v1/login", json={"appid": appid, "user": f"trigger-{uuid.uuid4().hex[:8]}"}))
        body = {"merchant_order_no": f"trigger-{uuid.uuid4().hex[:16]}", "amount_fen": amount_fen,
                "description": f"silverpay trigger {event}", "openid": shopper["openid"]}  # fmt: skip
        payment = _check(api.post("/api/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}))
        path = f"/api/v1/payments/{payment['id']}"
        console.print(f"payment {payment['id']} ({payment['merchant_order_no']}) created", highlight=False)
        if event == "order.closed":
            _check(api.post(path + "/cancel"))
            console.print(f"payment {payment['id']} cancelled → order.closed", highlight=False)
            return
        params = _check(api.post(path + "/pay-params"))
        _check(sim.post("/sim/v1/pay", json={**params, "appid": appid, "openid": shopper["openid"],
                                              "outcome": "success"}))  # fmt: skip
        _wait_for(api, path, ("PAID",))
        console.print(f"payment {payment['id']} paid by a simulated shopper → order.paid", highlight=False)
        if event == "refund.succeeded":
            refund = _check(api.post(path + "/refunds", json={"amount_fen": amount_fen, "reason": "trigger"}))
            _check(sim.post("/sim/v1/clock", json={"advance_s": 5}))  # past the simulated refund's processing
            _wait_for(api, path, ("REFUNDED",))
            console.print(f"refund {refund['out_refund_no']} succeeded → refund.succeeded", highlight=False)
