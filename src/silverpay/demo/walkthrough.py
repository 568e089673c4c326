"""`silverpay demo`: the simulator and the service on sockets, and a mini-program's walk through them.

``--api v3`` needs no files either: the demo makes a merchant API key pair and serial, gives the
simulator the public half, and gives the service the platform's public key (public-key mode) or
nothing, so that it downloads the platform certificate (certificate mode).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Literal

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from silverpay.api.app import create_app
from silverpay.config import Settings, local_notify_url
from silverpay.demo.defaults import DEMO_ADMIN_TOKEN, DEMO_MSG_AES_KEY, DEMO_MSG_TOKEN, DEMO_OPERATOR_EMAIL
from silverpay.domain.operators import Operator, Role
from silverpay.service.context import ServiceContext
from silverpay.service.operators import ensure_owner
from silverpay.serving import free_port, port_is_free, running
from silverpay.sim.app import create_sim_app
from silverpay.sim.config import PushConfig, SimConfig
from silverpay.sim.simulator import Simulator
from silverpay.webdemo import mount_web_demo
from silverpay.wechat.v3 import keys

DEMO_USER = "demo-shopper"
ApiVersion = Literal["v2", "v3"]
V3KeyMode = Literal["public-key", "certificate"]


class V3Merchant:
    """A throw-away merchant API key pair and certificate serial for one demo run."""

    def __init__(self) -> None:
        self.key = keys.generate_private_key()
        self.serial = secrets.token_hex(20).upper()

    def sim_config(self, *, time_scale: float, key_mode: V3KeyMode, push: PushConfig) -> SimConfig:
        return SimConfig.single(
            time_scale=time_scale, mch_serial=self.serial, push=push,
            mch_public_key_pem=keys.public_key_pem(self.key.public_key()).decode(),
            platform_mode="public_key" if key_mode == "public-key" else "certificate",
        )  # fmt: skip

    def settings(self, sim: Simulator, key_mode: V3KeyMode) -> dict[str, Any]:
        platform = {"wechat_public_key_pem": sim.platform.public_key_pem(),
                    "wechat_public_key_id": sim.platform.public_key_id} if key_mode == "public-key" else {}  # fmt: skip
        return {
            "wechat_api_version": "v3",
            "wechat_mch_serial": self.serial,
            "wechat_private_key_pem": keys.private_key_pem(self.key).decode(),
            **platform,
        }


class DemoFailed(Exception):
    pass


def _pick_port(console: Console, host: str, port: int, what: str) -> int:
    if port and port_is_free(host, port):
        return port
    chosen = free_port(host)
    if port:
        console.print(f"[yellow]port {port} is busy; the {what} uses {chosen}[/]")
    return chosen


async def run_demo(
    console: Console, *, host: str, port: int, sim_port: int, database_url: str | None, once: bool,
    api: ApiVersion = "v2", v3_keys: V3KeyMode = "public-key", keep: bool = False,
) -> None:  # fmt: skip
    """The walk-through, then (unless ``once``) serving until cancelled. Its temporary directory
    (``silverpay-demo-*``: the SQLite database) is removed on the way out unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-demo-"))
    try:
        await _run_demo(console, workdir, host=host, port=port, sim_port=sim_port, database_url=database_url,
                        once=once, api=api, v3_keys=v3_keys)  # fmt: skip
    finally:
        if keep:
            console.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def _run_demo(
    console: Console, workdir: Path, *, host: str, port: int, sim_port: int, database_url: str | None, once: bool,
    api: ApiVersion, v3_keys: V3KeyMode,
) -> None:  # fmt: skip
    port = _pick_port(console, host, port, "service")
    sim_port = _pick_port(console, host, sim_port, "simulator")
    service_url, sim_url = f"http://{host}:{port}", f"http://{host}:{sim_port}"
    merchant = V3Merchant() if api == "v3" else None
    # WeChat's message pushes (shipping events) go to the service's push endpoint, encrypted.
    push = PushConfig(f"{service_url}/api/v1/wechat/mp-events", DEMO_MSG_TOKEN, DEMO_MSG_AES_KEY, mode="safe")
    sim_config = (
        merchant.sim_config(time_scale=0.01, key_mode=v3_keys, push=push)
        if merchant
        else SimConfig.single(time_scale=0.01, push=push)
    )
    sim_app = create_sim_app(sim_config)
    settings = Settings(
        demo_mode=True,
        database_url=database_url or f"sqlite+aiosqlite:///{workdir / 'silverpay.db'}",
        wechat_pay_base=sim_url,
        wechat_login_base=sim_url,
        notify_url=local_notify_url(service_url, api),
        **(merchant.settings(sim_app.state.sim, v3_keys) if merchant else {}),
    )
    service_app = create_app(settings)
    mount_web_demo(service_app, sim_url=sim_url, appid=settings.wechat_appid)
    console.rule(f"[bold]silverpay demo (WeChat Pay API {api})")
    console.print(f"database   {settings.database_url}")
    if merchant:
        key_source = "public key " + sim_app.state.sim.platform.public_key_id if v3_keys == "public-key" else (
            "platform certificates, downloaded")  # fmt: skip
        console.print(f"API v3     merchant serial {merchant.serial}; WeChat's signatures checked with {key_source}")
    async with running(sim_app, host, sim_port) as sim_server, running(service_app, host, port) as server:
        console.print(f"simulator  {sim_url}   service  {service_url}\n")
        await walk_through(console, service_url, sim_url, settings.wechat_appid)
        if once:  # the servers stop now: no addresses to visit
            return
        owner_password = await demo_owner(service_app.state.ctx)
        console.rule("[bold]serving")
        console.print(f"operator console   {service_url}/console/")
        console.print(f"browser demo       {service_url}/demo/")
        console.print(f"service API docs   {service_url}/docs")
        console.print(f"simulator docs     {sim_url}/docs")
        console.print(f"operator token     {DEMO_ADMIN_TOKEN} (demo mode only)")
        console.print(f"console sign-in    {DEMO_OPERATOR_EMAIL}   password {owner_password}   (owner)")
        await _print_listen_howto(console, service_app, service_url, sim_url)
        console.print("Ctrl-C to stop.")
        # uvicorn takes SIGINT/SIGTERM while it serves and tells its servers to exit: so do we.
        while not (server.should_exit or sim_server.should_exit):  # noqa: ASYNC110 (a flag, not an Event)
            await asyncio.sleep(0.2)


async def demo_owner(ctx: ServiceContext) -> str:
    """The demo's owner account (DEMO_OPERATOR_EMAIL) with a new random password, which is returned."""
    password = secrets.token_urlsafe(12)
    await ensure_owner(ctx, DEMO_OPERATOR_EMAIL, password, actor=Operator(role=Role.OWNER, name="demo"))
    return password


async def _print_listen_howto(console: Console, service_app: Any, service_url: str, sim_url: str) -> None:
    """An API key for this demo's database, and the commands that try webhooks with it."""
    import time

    from silverpay.service.api_keys import create_api_key

    _, secret = await create_api_key(service_app.state.ctx.sessions, "demo", now=time.time())
    console.print("\n[bold]For merchant backends[/]: webhooks on your machine (in another terminal):")
    console.print(f"  silverpay listen --forward-to http://localhost:3000/hooks --api-base {service_url} "
                  f"--api-key {secret}", highlight=False, soft_wrap=True)  # fmt: skip
    console.print(f"  silverpay trigger order.paid --api-base {service_url} --sim-base {sim_url} --api-key {secret}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    console.print("  (listen prints the secret it signs with; verify with silverpay.webhooks.verify or "
                  "clients/webhooks/verify.mjs)", highlight=False)  # fmt: skip


def _show(console: Console, step: str, method: str, url: str, sent: Any, response: httpx.Response) -> Any:
    body = response.json() if response.content else None
    shown = {**body, "token": "<redacted>"} if isinstance(body, dict) and "token" in body else body
    table = Table.grid(padding=(0, 1))
    table.add_row("[dim]request[/]", f"{method} {url}")
    if sent is not None:
        table.add_row("", json.dumps(sent, ensure_ascii=False))
    table.add_row("[dim]response[/]", f"{response.status_code} {json.dumps(shown, ensure_ascii=False)}")
    if isinstance(body, dict) and "status" in body:
        table.add_row("[dim]order[/]", f"[bold]{body['status']}[/]")
    if isinstance(body, dict) and "can_confirm_receipt" in body:
        table.add_row("[dim]shipment[/]", f"[bold]{body['state']}[/]")
    console.print(Panel(table, title=step, title_align="left"))
    if response.status_code >= 400:
        raise DemoFailed(f"{step} failed with HTTP {response.status_code}")
    return body


async def walk_through(console: Console, service_url: str, sim_url: str, appid: str) -> dict[str, Any]:
    """The seed flow as a mini-program walks it; returns the final order (PAID, or DemoFailed)."""
    async with (
        httpx.AsyncClient(base_url=service_url, timeout=15) as api,
        httpx.AsyncClient(base_url=sim_url, timeout=15) as wx,
    ):

        async def step(title: str, client: httpx.AsyncClient, method: str, path: str, body: Any = None,
                       headers: dict[str, str] | None = None) -> Any:  # fmt: skip
            response = await client.request(method, path, json=body, headers=headers)
            return _show(console, title, method, str(client.base_url).rstrip("/") + path, body, response)

        login = await step(
            "1. wx.login (simulated WeChat)", wx, "POST", "/sim/v1/login", {"appid": appid, "user": DEMO_USER}
        )
        session = await step("2. log in to silverpay", api, "POST", "/api/v1/auth/wx-login",
                             {"code": login["code"], "nickname": "Demo Shopper"})  # fmt: skip
        auth = {"Authorization": f"Bearer {session['token']}"}
        products = await step("3. list products", api, "GET", "/api/v1/products")
        virtual = next((p for p in products if p["auto_ship_virtual"]), products[0])
        order = await step("4. create order (the server prices it)", api, "POST", "/api/v1/orders",
                           {"product_id": virtual["id"], "quantity": 1},
                           {**auth, "Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
        params = await step("5. get wx.requestPayment parameters", api, "POST", f"/api/v1/orders/{order['id']}/pay",
                            headers=auth)  # fmt: skip
        await step("6. wx.requestPayment (the user pays in WeChat)", wx, "POST", "/sim/v1/pay",
                   {**params, "appid": appid, "openid": login["openid"], "outcome": "success"})  # fmt: skip
        notified = await _await_notification(wx, order["out_trade_no"])
        console.print(Panel(f"WeChat notified the service: attempt {notified['attempt']}, HTTP "
                            f"{notified['http_status']}, acknowledged={notified['acknowledged']}",
                            title="7. payment notification", title_align="left"))  # fmt: skip
        final = await step("8. confirm (the server asks WeChat, never trusts the client)", api, "POST",
                           f"/api/v1/orders/{order['id']}/confirm", headers=auth)  # fmt: skip
        if final["status"] != "PAID":
            raise DemoFailed(f"the order ended {final['status']}, not PAID")
        console.print(f"[bold green]Order {final['out_trade_no']} is PAID: {final['amount_fen']} fen.[/]")
        await _ship_and_settle(console, step, api, wx, final, auth)
        return dict(final)


async def _ship_and_settle(console: Console, step: Any, api: httpx.AsyncClient, wx: httpx.AsyncClient,
                           order: dict[str, Any], auth: dict[str, str]) -> None:  # fmt: skip
    """WeChat holds the money until shipping is uploaded and the buyer confirms receipt: the demo's
    product is virtual goods, which the worker ships on payment; the buyer then confirms."""
    path = f"/api/v1/orders/{order['id']}/shipment"
    shipment: dict[str, Any] = {}
    for _ in range(300):
        shipment = (await api.get(path, headers=auth)).json()
        if shipment.get("state") == "SHIPPED":
            break
        await asyncio.sleep(0.05)
    else:
        raise DemoFailed(f"the virtual goods were not shipped within 15 s (state {shipment.get('state')})")
    _show_shipment(console, "9. shipped automatically (virtual goods: upload_shipping_info by the worker)", shipment)
    await step("10. the buyer confirms receipt (wx.openBusinessView weappOrderConfirm)", wx, "POST",
               "/sim/v1/confirm-receipt", {"transaction_id": shipment["transaction_id"]})  # fmt: skip
    settled = await step("11. re-check with the server (it asks get_order)", api, "POST", path + "/refresh",
                         headers=auth)  # fmt: skip
    if settled["state"] != "SETTLED":
        raise DemoFailed(f"the shipment ended {settled['state']}, not SETTLED")
    console.print(f"[bold green]Order {order['out_trade_no']}: shipped, receipt confirmed, funds SETTLED.[/]")


def _show_shipment(console: Console, title: str, shipment: dict[str, Any]) -> None:
    table = Table.grid(padding=(0, 1))
    table.add_row("[dim]shipment[/]", json.dumps(shipment, ensure_ascii=False))
    table.add_row("[dim]state[/]", f"[bold]{shipment['state']}[/]")
    console.print(Panel(table, title=title, title_align="left"))


async def _await_notification(wx: httpx.AsyncClient, out_trade_no: str) -> dict[str, Any]:
    for _ in range(200):
        attempts = (await wx.get("/sim/v1/notifications", params={"out_trade_no": out_trade_no})).json()
        acknowledged = [a for a in attempts if a["acknowledged"]]
        if acknowledged:
            return dict(acknowledged[0])
        await asyncio.sleep(0.05)
    raise DemoFailed("no acknowledged payment notification within 10 s")
