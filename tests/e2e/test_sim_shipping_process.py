"""`silverpay sim` as a process with its push settings from the environment (the variable names the
service uses): the shipping client on a socket, encrypted XML pushes to a real push URL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from silverpay.cli import app as cli
from silverpay.sim.config import DEMO_APPID, DEMO_SECRET
from silverpay.wechat.miniapp.push import OrderSettlement, PushKeys, verify_push
from silverpay.wechat.miniapp.shipping import (
    DeliveryMode,
    LogisticsType,
    OrderKey,
    OrderState,
    Parcel,
    ShippingClient,
    ShippingInfo,
    UploadResult,
)
from silverpay.wechat.miniapp.token import CachedTokenProvider
from tests.e2e.processes import silverpay, wait_for

pytestmark = pytest.mark.e2e

TOKEN = "e2e-push-token"
AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


@contextlib.contextmanager
def push_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A push URL on a socket answering ``success``; records (query, body) of every push."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((dict(parse_qsl(urlsplit(self.path).query)), body))
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"success")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/wechat/mp-events", received
    finally:
        server.shutdown()
        server.server_close()


async def test_ship_confirm_settle_with_pushes(tmp_path: Path) -> None:
    env = {"SILVERPAY_WECHAT_MSG_TOKEN": TOKEN, "SILVERPAY_WECHAT_MSG_AES_KEY": AES_KEY}
    with push_receiver() as (url, received), silverpay(
        "sim", "--time-scale", "0.001", "--push-url", url, "--push-format", "xml", ready_path="/sim/v1/clock",
        log_dir=str(tmp_path), env=env,
    ) as sim:  # fmt: skip
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=10, trust_env=False) as http:
            seeded = await http.post(
                "/sim/v1/trades:seed",
                json={
                    "trades": [{"out_trade_no": "E2E-SHIP-1", "amount_fen": 990, "openid": "o-e2e", "state": "SUCCESS"}]
                },
            )
            transaction_id = seeded.json()["trades"][0]["transaction_id"]  # fmt: skip
            client = ShippingClient(http, sim.base_url, CachedTokenProvider(http, sim.base_url, DEMO_APPID,
                                                                            DEMO_SECRET))  # fmt: skip
            now = (await http.get("/sim/v1/clock")).json()["now"]
            info = ShippingInfo(OrderKey.of_transaction(transaction_id), LogisticsType.VIRTUAL, DeliveryMode.UNIFIED,
                                (Parcel("会员年卡"),), "o-e2e", now)  # fmt: skip
            assert await client.upload_shipping_info(info) is UploadResult.ACCEPTED
            assert (await http.post("/sim/v1/confirm-receipt", json={"transaction_id": transaction_id})).is_success
            order = await client.get_order(OrderKey.of_transaction(transaction_id))
            assert order.state is OrderState.COMPLETE

        wait_for(lambda: len(received) >= 2)
        keys = PushKeys(TOKEN, DEMO_APPID, AES_KEY)
        events = [verify_push(keys, query, body).event for query, body in received]
        assert all(isinstance(e, OrderSettlement) and e.transaction_id == transaction_id for e in events)
        # One push when shipping completes, one when it settles; sent by separate tasks, so either may land first.
        assert sorted(e.settled for e in events) == [False, True]  # type: ignore[union-attr]
        assert all(query["encrypt_type"] == "aes" and body.startswith(b"<xml>") for query, body in received)
        assert AES_KEY not in sim.log() and TOKEN not in sim.log()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--push-url", "http://x/y"], "needs --msg-token"),
        (["--push-url", "http://x/y", "--msg-token", "t", "--push-mode", "safe"], "43 characters"),
        (["--push-url", "http://x/y", "--msg-token", "t", "--push-format", "yaml"], "json or xml"),
    ],
)
def test_push_options_are_checked(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["sim", *args], env={"SILVERPAY_WECHAT_MSG_AES_KEY": ""})
    assert result.exit_code == 2 and message in result.output
