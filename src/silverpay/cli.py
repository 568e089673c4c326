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
    time_scale: Annotated[
        float, typer.Option(min=0.0, help="multiplies notification retry delays, e.g. 0.001")
    ] = 1.0,
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
