"""The `silverpay` command: thin entry points; each builds what it needs and hands over."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from silverpay.commands import developer
from silverpay.commands.admin import admin_app
from silverpay.commands.events import events_app
from silverpay.demo import defaults as demo_defaults

# Markdown: a docstring's paragraph is reflowed to the terminal, not printed with its source line breaks.
app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="markdown",
                  help="WeChat mini-program payments.")  # fmt: skip
console = Console()

Host = Annotated[str, typer.Option(help="interface to listen on")]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"silverpay {version('silverpay')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """silverpay: the server side of WeChat mini-program payments, and an offline WeChat simulator."""


@app.command()
def sim(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 9000,
    appid: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_APPID")] = demo_defaults.DEMO_APPID,
    secret: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_SECRET", show_default=False)] = (
        demo_defaults.DEMO_SECRET
    ),
    mch_id: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_MCH_ID")] = demo_defaults.DEMO_MCH_ID,
    api_key: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_API_KEY", show_default=False)] = (
        demo_defaults.DEMO_API_KEY
    ),
    api_v3_key: Annotated[
        str,
        typer.Option(
            envvar="SILVERPAY_WECHAT_API_V3_KEY", show_default=False, help="the merchant's APIv3 key (32 bytes)"
        ),
    ] = demo_defaults.DEMO_API_V3_KEY,
    mch_serial: Annotated[
        str, typer.Option(envvar="SILVERPAY_WECHAT_MCH_SERIAL", help="the merchant API certificate serial (v3)")
    ] = "",
    mch_cert: Annotated[
        str | None,
        typer.Option(
            envvar="SILVERPAY_WECHAT_MCH_CERT_PATH", help="the merchant API certificate or public key, PEM (v3)"
        ),
    ] = None,
    platform_key: Annotated[str | None, typer.Option(help="the platform's RSA private key, PEM (default: new)")] = None,
    platform_mode: Annotated[
        str, typer.Option(help="how v3 notifications are signed: certificate | public_key | mixed")
    ] = "certificate",
    time_scale: Annotated[float, typer.Option(min=0.0, help="multiplies notification retry delays, e.g. 0.001")] = 1.0,
    state: Annotated[str | None, typer.Option(help="SQLite file that keeps trades across restarts")] = None,
    seed: Annotated[int | None, typer.Option(help="seed for repeatable fault injection")] = None,
    push_url: Annotated[
        str, typer.Option(envvar="SILVERPAY_SIM_PUSH_URL", help="the mini-program's message-push URL (default: none)")
    ] = "",
    msg_token: Annotated[
        str, typer.Option(envvar="SILVERPAY_WECHAT_MSG_TOKEN", show_default=False, help="message-push Token")
    ] = "",
    msg_aes_key: Annotated[
        str,
        typer.Option(
            envvar="SILVERPAY_WECHAT_MSG_AES_KEY", show_default=False, help="message-push EncodingAESKey (43 chars)"
        ),
    ] = "",
    push_mode: Annotated[str, typer.Option(help="plain | safe (default: safe when an AES key is given)")] = "",
    push_format: Annotated[str, typer.Option(help="json | xml")] = "json",
    auto_confirm_s: Annotated[
        float, typer.Option(min=0.0, help="shipped → receipt confirmed automatically after this (simulated) time")
    ] = 10 * 86400,
    settlement_delay_s: Annotated[float, typer.Option(min=0.0, help="receipt confirmed → settled")] = 0.0,
) -> None:
    """Run the offline WeChat platform simulator (login, Pay v2 and v3, notifications, shipping
    management and its message pushes, control API)."""
    from pathlib import Path

    from silverpay.errors import ConfigError
    from silverpay.sim.app import create_sim_app
    from silverpay.sim.config import PLATFORM_MODES, PushConfig, SimConfig
    from silverpay.wechat.miniapp.push import aes_key

    if platform_mode not in PLATFORM_MODES:
        console.print(f"[red]--platform-mode must be one of {', '.join(PLATFORM_MODES)}[/]")
        raise typer.Exit(2)
    push = None
    if push_url:
        mode = push_mode or ("safe" if msg_aes_key else "plain")
        try:
            if mode not in ("plain", "safe") or push_format not in ("json", "xml"):
                raise ConfigError("--push-mode is plain or safe, --push-format json or xml")
            if not msg_token:
                raise ConfigError("a push URL needs --msg-token (SILVERPAY_WECHAT_MSG_TOKEN)")
            if mode == "safe" or msg_aes_key:
                aes_key(msg_aes_key)
        except ConfigError as error:
            console.print(f"[red]{error.message}[/]")
            raise typer.Exit(2) from None
        push = PushConfig(push_url, msg_token, msg_aes_key, mode=mode, format=push_format)
    try:
        mch_pem = Path(mch_cert).read_text(encoding="ascii") if mch_cert else ""
        platform_pem = Path(platform_key).read_bytes() if platform_key else None
    except (OSError, UnicodeDecodeError) as error:
        console.print(f"[red]cannot read a key file:[/] {error}")
        raise typer.Exit(2) from None
    config = SimConfig.single(
        appid=appid, secret=secret, mch_id=mch_id, api_key=api_key, api_v3_key=api_v3_key,
        mch_serial=mch_serial, mch_public_key_pem=mch_pem, time_scale=time_scale, seed=seed, state_path=state,
        platform_key_pem=platform_pem, platform_mode=platform_mode, push=push, auto_confirm_s=auto_confirm_s,
        settlement_delay_s=settlement_delay_s,
    )  # fmt: skip
    base = f"http://{host}:{port}"
    v3 = f"v3 as serial {mch_serial}" if mch_serial and mch_pem else "no v3 identity (--mch-serial/--mch-cert)"
    console.print(f"[bold]silverpay sim[/] merchant {mch_id} ({v3}), mini-program {appid}")
    console.print(f"  WeChat Pay base URL    {base}/   (api.mch.weixin.qq.com)")
    console.print(f"  WeChat login base URL  {base}/   (api.weixin.qq.com)")
    console.print(f"  control API            {base}/sim/v1/   docs: {base}/docs")
    console.print(f"  platform v3 keys       {base}/sim/v1/platform   (mode {platform_mode})")
    if push is not None:
        console.print(f"  message pushes         {push.url}   ({push.mode}, {push.format})")
    import uvicorn  # here: the jobs that serve nothing start without it

    uvicorn.run(create_sim_app(config), host=host, port=port, log_level="warning")


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes sharing the port")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log", help="log every request (off: it costs CPU)")] = False,
) -> None:
    """Run the merchant service (configured by SILVERPAY_* environment variables, see README).

    With --workers N, N processes serve the same port; each runs the embedded worker unless
    SILVERPAY_EMBEDDED_WORKER=0, and they share the background work safely (claims with SKIP LOCKED).
    """
    import os

    from silverpay.commands.checks import database_or_exit, settings_or_exit
    from silverpay.config import local_notify_url
    from silverpay.logs import configure

    settings = settings_or_exit(console, api=None)
    configure(fmt=settings.log_format)
    if settings.demo_mode:  # what demo mode makes up, made once here for every server process
        if not settings.notify_url:  # the simulator notifies this server, as `demo` does
            reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (compared, not bound)
            base = f"http://[{reachable}]:{port}" if ":" in reachable else f"http://{reachable}:{port}"
            os.environ["SILVERPAY_NOTIFY_URL"] = local_notify_url(base, settings.wechat_api_version)
        if not os.environ.get("SILVERPAY_JWT_SECRET"):  # the given one (.env), or the one made just now
            os.environ["SILVERPAY_JWT_SECRET"] = settings.jwt_secret.get_secret_value()
    database_or_exit(console, settings_or_exit(console, api=True).database_url)  # here, before the processes start
    import uvicorn

    # log_config=None: uvicorn's own loggers go through ours (one format, request ids included).
    uvicorn.run("silverpay.api.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                loop="uvloop", http="httptools", access_log=access_log, log_level="info",
                log_config=None)  # fmt: skip


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="service port (a free one if busy)")] = 8000,
    sim_port: Annotated[int, typer.Option(help="simulator port (a free one if busy)")] = 9000,
    database_url: Annotated[str | None, typer.Option(help="default: SQLite in a temporary directory")] = None,
    once: Annotated[bool, typer.Option("--once", help="exit after the walk-through")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="keep the temporary directory (silverpay-demo-*)")] = False,
    api: Annotated[str, typer.Option(help="WeChat Pay API version: v2 or v3")] = "v2",
    v3_keys: Annotated[str, typer.Option(help="v3: verify WeChat with its public-key or certificate")] = "public-key",
) -> None:
    """Start the simulator and the service, walk a mini-program through login → pay → PAID."""
    import asyncio
    import signal
    from typing import cast

    from silverpay.commands.checks import database_or_exit
    from silverpay.demo.walkthrough import ApiVersion, DemoFailed, V3KeyMode, run_demo
    from silverpay.logs import configure

    if api not in ("v2", "v3") or v3_keys not in ("public-key", "certificate"):
        console.print("[red]--api must be v2 or v3, --v3-keys public-key or certificate[/]")
        raise typer.Exit(2)
    if database_url:
        database_or_exit(console, database_url, setting="--database-url")
    configure("WARNING")
    chosen = cast("ApiVersion", api), cast("V3KeyMode", v3_keys)  # checked just above
    signal.signal(signal.SIGTERM, _interrupt)  # stopped like Ctrl-C: the temporary directory is removed
    try:
        asyncio.run(run_demo(console, host=host, port=port, sim_port=sim_port, database_url=database_url, once=once,
                             api=chosen[0], v3_keys=chosen[1], keep=keep))  # fmt: skip
    except DemoFailed as failure:
        console.print(f"[red]demo failed:[/] {failure}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("stopped.")


@app.command()
def worker() -> None:
    """Run the background worker alone (sweeper, expiry, refunds); any number may share a database."""
    import asyncio
    import signal

    from silverpay.bootstrap import built
    from silverpay.commands.checks import database_or_exit, settings_or_exit
    from silverpay.jobs.worker import Worker
    from silverpay.logs import configure
    from silverpay.store.migrate import upgrade

    settings = settings_or_exit(console, api=False)
    configure(fmt=settings.log_format)
    database_or_exit(console, settings.database_url)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with built(settings) as parts:
            if settings.auto_migrate:
                await upgrade(parts.engine)
            work = Worker(parts.ctx, concurrency=settings.worker_concurrency, batch=settings.worker_batch,
                          rate_per_s=settings.wechat_rate_limit_per_s, webhook_timeout_s=settings.webhook_timeout_s,
                          webhook_lease_s=settings.webhook_lease_s,
                          webhook_concurrency=settings.webhook_concurrency)  # fmt: skip
            await work.run(stop, poll_s=settings.worker_poll_s)

    asyncio.run(run())


@app.command("reconcile")
def reconcile_command(
    date: Annotated[
        str, typer.Option("--date", help="the bill's Beijing date, YYYY-MM-DD: a past day, at most 92 days ago")
    ],
    csv_path: Annotated[
        str | None, typer.Option("--csv", help="also write the discrepancies to this CSV file (when the run succeeds)")
    ] = None,
) -> None:
    """Download WeChat's bill for a day and compare it with local orders and refunds.

    Every discrepancy is recorded in the database (GET /api/v1/admin/reconciliations/ID). Exits 1
    when unresolved discrepancies remain, 2 on configuration or input errors or a failed run.
    """
    import asyncio
    import datetime as dt
    import gc
    import time
    from pathlib import Path

    from silverpay.bootstrap import built
    from silverpay.commands.checks import database_or_exit, refuse, settings_or_exit
    from silverpay.errors import InvalidRequest, SilverpayError
    from silverpay.logs import configure
    from silverpay.service.reconcile import check_bill_day, print_report, run_reconciliation

    configure("WARNING")
    try:  # before anything is asked or opened
        day = dt.date.fromisoformat(date) if len(date) == 10 else None
        if day is None:
            raise ValueError(date)
        check_bill_day(day, time.time())
    except ValueError:
        refuse(console, "", f"--date must be YYYY-MM-DD, not {date!r}")
    except InvalidRequest as error:
        refuse(console, "--date", error.message)
    if csv_path and not Path(csv_path).parent.is_dir():
        refuse(console, "--csv", f"no directory {str(Path(csv_path).parent)!r} to write {csv_path!r} in")

    settings = settings_or_exit(console, api=False)
    database_or_exit(console, settings.database_url)

    async def run() -> int:
        async with built(settings) as parts:
            if settings.auto_migrate:
                from silverpay.store.migrate import upgrade  # alembic: imported only when it has work to do

                await upgrade(parts.engine)
            report = await run_reconciliation(parts.ctx, day, csv_path=csv_path, console=console)
        print_report(console, report)
        return 1 if report.unresolved else 0

    # A one-shot command: what is loaded now lives until exit, so the collector need not walk it
    # (at exit that walk took ~0.3 s).
    gc.freeze()
    try:
        code = asyncio.run(run())
    except SilverpayError as error:
        refuse(console, "reconciliation failed", f"{error.code}: {error.message}")
    except OSError as error:  # the CSV could not be written
        refuse(console, "reconciliation failed", str(error))
    raise typer.Exit(code)


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(events_app, name="events")
app.command()(developer.listen)
app.command()(developer.trigger)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations to SILVERPAY_DATABASE_URL (run once per deploy with SILVERPAY_AUTO_MIGRATE=0)."""
    import asyncio

    from silverpay.commands.checks import database_or_exit, settings_or_exit
    from silverpay.store.db import create_engine
    from silverpay.store.migrate import upgrade

    url = settings_or_exit(console, api=None).database_url
    database_or_exit(console, url)

    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    console.print("database is at the latest schema")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
