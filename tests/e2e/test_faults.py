"""Never lose a payment: the simulator misbehaves, the service is killed, and still every payment
ends settled exactly once. Processes on sockets; on PostgreSQL and MariaDB (CI) two workers race
on the same database (the embedded one and a `silverpay worker` process)."""

from __future__ import annotations

import collections
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from silverpay.sim.config import DEMO_APPID
from tests.databases import BACKENDS
from tests.e2e.processes import Process, free_port, silverpay, stop, wait_for
from tests.e2e.stack import ADMIN, V3Files, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Shop:
    """The simulator, one service process (restartable) and one extra worker process."""

    def __init__(self, database_url: str, logs: Path, api_version: str) -> None:
        self.database_url = database_url
        self.logs = logs
        self.port = free_port()
        self.stack = contextlib.ExitStack()
        files = V3Files(logs / "keys") if api_version == "v3" else None
        sim_args = ("--time-scale", "0.01", *(files.sim_args() if files else ()))
        self.sim: Process = self.stack.enter_context(
            silverpay("sim", *sim_args, ready_path="/sim/v1/clock", log_dir=str(logs))
        )
        self.env = service_env(
            database_url, self.sim.base_url, self.port, secrets.token_urlsafe(32), api_version=api_version,
            **(files.service_env(self.sim) if files else {}),
            SILVERPAY_SWEEP_SCHEDULE_S="1,1,2",  # seconds, not minutes: the sweeper must act within a test
            SILVERPAY_WORKER_POLL_S="0.2",
        )  # fmt: skip
        self.service: Process | None = None
        self.start_service()
        self.worker = self._worker_process()

    def start_service(self) -> None:
        self.service = self.stack.enter_context(
            silverpay("serve", ready_path="/healthz", log_dir=str(self.logs), env=self.env, port=self.port)
        )

    def _worker_process(self) -> subprocess.Popen[bytes]:
        with open(self.logs / f"worker-{secrets.token_hex(3)}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "silverpay", "worker"], env={**os.environ, **self.env},
                                    stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.stack.callback(stop, proc, 15)
        return proc

    def close(self) -> None:
        self.stack.close()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def faults(self, **faults: Any) -> None:
        httpx.put(f"{self.sim.base_url}/sim/v1/faults", json=faults).raise_for_status()

    def shopper(self) -> tuple[dict[str, str], str]:
        login = httpx.post(f"{self.sim.base_url}/sim/v1/login",
                           json={"appid": DEMO_APPID, "user": secrets.token_hex(4)}).json()  # fmt: skip
        token = httpx.post(f"{self.api}/api/v1/auth/wx-login", json={"code": login["code"]}).json()["token"]
        return {"Authorization": f"Bearer {token}"}, login["openid"]

    def product(self) -> int:
        created = httpx.post(f"{self.api}/api/v1/admin/products", json={"name": "fault", "price_fen": 1000},
                             headers=ADMIN)  # fmt: skip
        return int(created.json()["id"])

    def buy(self, auth: dict[str, str], openid: str, product: int, *, pay: bool = True) -> dict[str, Any]:
        """Create an order and, with retries on the flaky upstream, pay it at WeChat."""
        headers = {**auth, "Idempotency-Key": secrets.token_hex(8)}  # one key: a retried create is one order
        order = _retry(lambda: httpx.post(f"{self.api}/api/v1/orders", json={"product_id": product},
                                          headers=headers, timeout=15))  # fmt: skip
        params = _retry(lambda: httpx.post(f"{self.api}/api/v1/orders/{order['id']}/pay", headers=auth, timeout=15))
        if pay:
            sheet = {**params, "appid": DEMO_APPID, "openid": openid}
            response = httpx.post(f"{self.sim.base_url}/sim/v1/pay", json=sheet, timeout=15)
            assert response.status_code == 200, response.text
        return order

    def admin_order(self, order_id: int) -> dict[str, Any]:
        return dict(_retry(lambda: httpx.get(f"{self.api}/api/v1/admin/orders/{order_id}", headers=ADMIN,
                                             timeout=15)))  # fmt: skip


def _retry(call: Any, attempts: int = 30) -> Any:
    for _ in range(attempts):
        try:
            response = call()
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code < 500:
            assert response.status_code < 400, response.text
            return response.json()
        time.sleep(0.1)  # 503: WeChat's SYSTEMERROR; the same call is safe to repeat
    raise AssertionError("gave up after repeated upstream errors")


SHOPS = [(api, backend) for api in ("v2", "v3") for backend in BACKENDS]


@pytest.fixture(scope="module", params=SHOPS, ids=[f"{api}-{backend}" for api, backend in SHOPS])
def shop(
    make_database: Any, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Shop]:
    """One shop per API version and backend, on a database of its own, shared by this module's tests
    (three processes are costly to start): each test buys with a shopper and orders of its own."""
    api_version, backend = request.param
    running = Shop(make_database(backend), tmp_path_factory.mktemp("faults"), api_version)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(autouse=True)
def no_faults(shop: Shop) -> Iterator[None]:
    yield
    shop.faults()


def delivered(shop: Shop, out_trade_no: str, copies: int) -> bool:
    """WeChat's notification of the payment was acknowledged, and each attempt's every copy (two when
    the simulator duplicates them) has had its answer: none is still on its way to the service."""
    attempts = httpx.get(f"{shop.sim.base_url}/sim/v1/notifications", params={"out_trade_no": out_trade_no},
                         timeout=15).json()  # fmt: skip
    answered = collections.Counter((a["delivery_id"], a["attempt"]) for a in attempts)
    return any(a["acknowledged"] for a in attempts) and set(answered.values()) == {copies}


def paid_transitions(view: dict[str, Any]) -> int:
    return sum(1 for e in view["events"] if e["kind"] == "status" and e["detail"]["to"] == "PAID")


def test_every_notification_dropped_the_sweeper_settles_all(shop: Shop) -> None:
    shop.faults(notify_drop_rate=1.0)
    auth, openid = shop.shopper()
    product = shop.product()
    orders = [shop.buy(auth, openid, product) for _ in range(6)]
    for order in orders:
        wait_for(lambda o=order: shop.admin_order(o["id"])["status"] == "PAID", timeout=30)
        view = shop.admin_order(order["id"])
        assert paid_transitions(view) == 1
        assert any(e["kind"] == "wechat.query" and e["detail"]["source"] == "sweeper" for e in view["events"])


def test_duplicates_delays_and_system_errors(shop: Shop) -> None:
    shop.faults(notify_duplicate_rate=1.0, notify_delay_s=0.5, api_error_rate=0.3)
    auth, openid = shop.shopper()
    product = shop.product()
    paid = [shop.buy(auth, openid, product) for _ in range(8)]
    unpaid = [shop.buy(auth, openid, product, pay=False) for _ in range(3)]
    for order in paid:
        wait_for(lambda o=order: shop.admin_order(o["id"])["status"] == "PAID", timeout=40)
    for order in paid:  # the duplicates and delayed copies have all arrived: none may count twice
        wait_for(lambda o=order: delivered(shop, o["out_trade_no"], copies=2), timeout=40)
    for order in paid:
        assert paid_transitions(shop.admin_order(order["id"])) == 1
    for order in unpaid:
        assert shop.admin_order(order["id"])["status"] == "PAYING"


def test_service_killed_mid_run_loses_nothing(shop: Shop) -> None:
    auth, openid = shop.shopper()
    product = shop.product()
    bought: list[dict[str, Any]] = []
    failures: list[str] = []
    restarted = threading.Event()

    def shopping() -> None:
        for _ in range(12):
            try:
                bought.append(shop.buy(auth, openid, product))
            except (AssertionError, httpx.HTTPError) as exc:  # the service is down for a moment
                failures.append(str(exc))
                restarted.wait(timeout=30)

    thread = threading.Thread(target=shopping)
    thread.start()
    wait_for(lambda: len(bought) >= 3, timeout=60)  # mid-run: orders paid, more on their way
    assert shop.service is not None
    shop.service.proc.send_signal(signal.SIGKILL)  # no shutdown, no cleanup
    shop.service.proc.wait()
    shop.start_service()
    restarted.set()
    thread.join(timeout=120)
    assert bought, failures
    for order in bought:
        wait_for(lambda o=order: shop.admin_order(o["id"])["status"] == "PAID", timeout=40)
        assert paid_transitions(shop.admin_order(order["id"])) == 1
    # Refunds racing against each other after the restart never exceed what was paid.
    target = bought[0]["id"]
    with httpx.Client(timeout=15) as client:
        codes = [client.post(f"{shop.api}/api/v1/admin/orders/{target}/refunds", json={"amount_fen": 400},
                             headers=ADMIN).status_code for _ in range(4)]  # fmt: skip
    assert codes.count(201) == 2 and codes.count(409) == 2
    refunds = shop.admin_order(target)["refunds"]
    assert sum(r["amount_fen"] for r in refunds if r["status"] != "CLOSED") <= 1000


def test_payment_after_a_local_close_is_refunded_not_dropped(shop: Shop) -> None:
    shop.faults(notify_drop_rate=0.0)
    auth, openid = shop.shopper()
    product = shop.product()
    order = shop.buy(auth, openid, product, pay=False)
    params = _retry(lambda: httpx.post(f"{shop.api}/api/v1/orders/{order['id']}/pay", headers=auth, timeout=15))
    _close_locally(shop.database_url, order["id"])  # e.g. an operator's mistake: WeChat still takes payment
    sheet = {**params, "appid": DEMO_APPID, "openid": openid}
    assert httpx.post(f"{shop.sim.base_url}/sim/v1/pay", json=sheet).status_code == 200

    def refunded() -> bool:
        refunds = shop.admin_order(order["id"])["refunds"]
        return [(r["surplus"], r["status"]) for r in refunds] == [(True, "SUCCESS")]

    wait_for(refunded, timeout=30)  # the worker sent it back, WeChat confirmed
    view = shop.admin_order(order["id"])
    assert view["status"] == "CLOSED" and not view["needs_review"]
    surplus = [e["detail"] for e in view["events"] if e["kind"] == "refund.surplus"]
    assert [d["reason"] for d in surplus] == ["paid at WeChat after the order was closed here"]


def _close_locally(database_url: str, order_id: int) -> None:
    import asyncio

    from sqlalchemy import update

    from silverpay.store.db import create_engine, session_factory
    from silverpay.store.models import Order

    async def close() -> None:
        engine = create_engine(database_url)
        async with session_factory(engine).begin() as db:
            await db.execute(update(Order).where(Order.id == order_id).values(status="CLOSED"))
        await engine.dispose()

    asyncio.run(close())
