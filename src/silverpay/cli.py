"""The `silverpay` command: thin entry points; each builds what it needs and hands over."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from silverpay.sim import config as sim_defaults

app = typer.Typer(no_args_is_help=True, add_completion=False, help="WeChat mini-program payments.")
console = Console()

Host = Annotated[str, typer.Option(help="interface to listen on")]


@app.callback()
def _root() -> None:
    """silverpay: the server side of WeChat mini-program payments, and an offline WeChat simulator."""


@app.command()
def sim(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 9000,
    appid: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_APPID")] = sim_defaults.DEMO_APPID,
    secret: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_SECRET", show_default=False)] = (
        sim_defaults.DEMO_SECRET
    ),
    mch_id: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_MCH_ID")] = sim_defaults.DEMO_MCH_ID,
    api_key: Annotated[str, typer.Option(envvar="SILVERPAY_WECHAT_API_KEY", show_default=False)] = (
        sim_defaults.DEMO_API_KEY
    ),
    time_scale: Annotated[float, typer.Option(min=0.0, help="multiplies notification retry delays, e.g. 0.001")] = 1.0,
    state: Annotated[str | None, typer.Option(help="SQLite file that keeps trades across restarts")] = None,
    seed: Annotated[int | None, typer.Option(help="seed for repeatable fault injection")] = None,
) -> None:
    """Run the offline WeChat platform simulator (login, Pay v2, notifications, control API)."""
    from silverpay.sim.app import create_sim_app
    from silverpay.sim.config import SimConfig

    config = SimConfig.single(
        appid=appid, secret=secret, mch_id=mch_id, api_key=api_key,
        time_scale=time_scale, seed=seed, state_path=state,
    )  # fmt: skip
    base = f"http://{host}:{port}"
    console.print(f"[bold]silverpay sim[/] merchant {mch_id}, mini-program {appid}")
    console.print(f"  WeChat Pay base URL    {base}/   (api.mch.weixin.qq.com)")
    console.print(f"  WeChat login base URL  {base}/   (api.weixin.qq.com)")
    console.print(f"  control API            {base}/sim/v1/   docs: {base}/docs")
    uvicorn.run(create_sim_app(config), host=host, port=port, log_level="warning")


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the merchant service (configured by SILVERPAY_* environment variables, see README)."""
    from silverpay.api.app import create_app
    from silverpay.config import Settings
    from silverpay.errors import ConfigError
    from silverpay.logs import configure

    configure()
    try:
        service = create_app(Settings())
    except ConfigError as error:
        console.print(f"[red]configuration error:[/] {error.message}")
        raise typer.Exit(2) from None
    uvicorn.run(service, host=host, port=port, log_level="info")


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="service port (a free one if busy)")] = 8000,
    sim_port: Annotated[int, typer.Option(help="simulator port (a free one if busy)")] = 9000,
    database_url: Annotated[str | None, typer.Option(help="default: SQLite in a temporary directory")] = None,
    once: Annotated[bool, typer.Option("--once", help="exit after the walk-through")] = False,
) -> None:
    """Start the simulator and the service, walk a mini-program through login → pay → PAID."""
    import asyncio

    from silverpay.demo import DemoFailed, run_demo
    from silverpay.logs import configure

    configure("WARNING")
    try:
        asyncio.run(run_demo(console, host=host, port=port, sim_port=sim_port, database_url=database_url, once=once))
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

    from silverpay.api.app import build_context
    from silverpay.config import Settings
    from silverpay.errors import ConfigError
    from silverpay.jobs.worker import Worker
    from silverpay.logs import configure
    from silverpay.store.migrate import upgrade

    configure()
    settings = Settings()

    async def run() -> None:
        try:
            ctx, engine, close = build_context(settings)
        except ConfigError as error:
            console.print(f"[red]configuration error:[/] {error.message}")
            raise typer.Exit(2) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            if settings.auto_migrate:
                await upgrade(engine)
            work = Worker(ctx, concurrency=settings.worker_concurrency, batch=settings.worker_batch,
                          rate_per_s=settings.wechat_rate_limit_per_s)  # fmt: skip
            await work.run(stop, poll_s=settings.worker_poll_s)
        finally:
            await close()

    asyncio.run(run())


@app.command("reconcile")
def reconcile_command(
    date: Annotated[str, typer.Option("--date", help="the bill's Beijing date, YYYY-MM-DD")],
    csv_path: Annotated[str | None, typer.Option("--csv", help="where to write the discrepancies")] = None,
) -> None:
    """Download WeChat's bill for a day and compare it with local orders and refunds.

    Exits 1 when unresolved discrepancies remain, 2 on configuration or input errors.
    """
    import asyncio
    import datetime as dt

    from silverpay.api.app import build_context
    from silverpay.config import Settings
    from silverpay.errors import SilverpayError
    from silverpay.logs import configure
    from silverpay.service.reconcile import print_report, run_reconciliation
    from silverpay.store.migrate import upgrade

    configure("WARNING")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        console.print(f"[red]--date must be YYYY-MM-DD, not {date!r}[/]")
        raise typer.Exit(2) from None

    async def run() -> int:
        settings = Settings()
        ctx, engine, close = build_context(settings)
        try:
            if settings.auto_migrate:
                await upgrade(engine)
            report = await run_reconciliation(ctx, day, csv_path=csv_path, console=console)
        finally:
            await close()
        print_report(console, report)
        return 1 if report.unresolved else 0

    try:
        code = asyncio.run(run())
    except SilverpayError as error:
        console.print(f"[red]reconciliation failed:[/] {error.code}: {error.message}")
        raise typer.Exit(2) from None
    raise typer.Exit(code)


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations to SILVERPAY_DATABASE_URL (run once per deploy with SILVERPAY_AUTO_MIGRATE=0)."""
    import asyncio

    from silverpay.config import Settings
    from silverpay.store.db import create_engine
    from silverpay.store.migrate import upgrade

    async def run() -> None:
        engine = create_engine(Settings().database_url)
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
