"""Merchant integration over sockets: a merchant backend creates a payment with its API key, the
simulator pays it, the backend receives a verified order.paid; `silverpay listen` forwards what
`silverpay trigger` makes happen; a worker SIGKILLed mid-delivery loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from silverpay.commands.developer import local_secret
from silverpay.sim.config import DEMO_APPID
from tests.databases import BACKENDS
from tests.e2e.merchant_backend import Backend, merchant_backend
from tests.e2e.processes import free_port, stop, wait_for
from tests.e2e.stack import ADMIN, Stack, running_stack, service_env

pytestmark = pytest.mark.e2e


def create_api_key(database_url: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "silverpay", "admin", "create-api-key", "e2e backend"],
        env={**os.environ, "SILVERPAY_DATABASE_URL": database_url}, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    secret = completed.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk_"), completed.stdout
    return secret


@pytest.fixture
def world(make_database: Any, tmp_path: Any) -> Iterator[tuple[Stack, Backend, str]]:
    database_url = make_database("sqlite")
    with running_stack(database_url, str(tmp_path), SILVERPAY_WORKER_POLL_S="0.1") as stack:
        api_key = create_api_key(database_url)
        with merchant_backend(stack.api, api_key) as backend:
            yield stack, backend, database_url


def register(stack: Stack, backend: Backend, path: str, events: list[str]) -> None:
    response = stack.call("POST", "/api/v1/admin/webhook-endpoints", json={"url": backend.url + path,
                          "events": events}, headers=ADMIN)  # fmt: skip
    assert response.status_code == 201, response.text
    backend.secrets[path] = response.json()["secret"]


def test_backend_receives_a_verified_order_paid(world: tuple[Stack, Backend, str]) -> None:
    stack, backend, _ = world
    register(stack, backend, "/hooks", ["order.paid"])
    openid = stack.login_code(f"u-{uuid.uuid4().hex[:8]}")["openid"]
    number = f"SO-{uuid.uuid4().hex[:10]}"
    checkout = backend.checkout(openid, number, 2990)
    sheet = {**checkout["params"], "appid": DEMO_APPID, "openid": openid, "outcome": "success"}
    assert stack.wx("POST", "/sim/v1/pay", json=sheet).status_code == 200
    wait_for(lambda: backend.verified.get("/hooks"), timeout=30)
    (event,) = backend.verified["/hooks"]
    assert event["type"] == "order.paid" and event["id"].startswith("evt_")
    paid = event["data"]["object"]
    assert paid["merchant_order_no"] == number and paid["status"] == "PAID" and paid["amount_fen"] == 2990
    assert backend.refused == 0
    cli = {**os.environ, "SILVERPAY_ADMIN_TOKEN": ADMIN["Authorization"].removeprefix("Bearer "), "COLUMNS": "200",
           "SILVERPAY_API_BASE": stack.api}  # fmt: skip
    listed = subprocess.run([sys.executable, "-m", "silverpay", "events", "list", "--type", "order.paid"], env=cli,
                            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert event["id"] in listed.stdout and "DELIVERED" in listed.stdout
    resent = subprocess.run([sys.executable, "-m", "silverpay", "events", "resend", event["id"]], env=cli,
                            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert f"{event['id']} queued" in resent.stdout
    wait_for(lambda: len(backend.verified["/hooks"]) == 2, timeout=30)
    assert backend.verified["/hooks"][1] == event  # the same event, again


def test_listen_forwards_what_trigger_makes_happen(world: tuple[Stack, Backend, str]) -> None:
    stack, backend, _ = world
    backend.secrets["/local"] = local_secret(backend.api_key)
    env = {**os.environ, "SILVERPAY_API_KEY": backend.api_key, "SILVERPAY_API_BASE": stack.api}
    listen = subprocess.Popen(
        [sys.executable, "-m", "silverpay", "listen", "--forward-to", backend.url + "/local", "--events",
         "order.paid,order.closed,refund.succeeded", "--max-events", "3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = [listen.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        assert f"signing secret is {local_secret(backend.api_key)}\n" in "".join(lines), lines
        for event in ("order.closed", "refund.succeeded"):  # the refund's payment is paid first
            subprocess.run([sys.executable, "-m", "silverpay", "trigger", event, "--sim-base", stack.sim.base_url],
                           env=env, check=True, timeout=60, capture_output=True)  # fmt: skip
        output, _ = listen.communicate(timeout=60)
    finally:
        if listen.poll() is None:
            stop(listen)  # type: ignore[arg-type]
    assert listen.returncode == 0, output
    assert [e["type"] for e in backend.verified["/local"]] == ["order.closed", "order.paid", "refund.succeeded"]
    assert output.count("→ 200") == 3 and backend.refused == 0


@pytest.mark.parametrize("database", BACKENDS)
def test_worker_killed_mid_delivery_loses_nothing(make_database: Any, tmp_path: Any, database: str) -> None:
    database_url = make_database(database)
    with running_stack(database_url, str(tmp_path), SILVERPAY_EMBEDDED_WORKER="0") as stack:
        api_key = create_api_key(database_url)
        with merchant_backend(stack.api, api_key) as backend:
            backend.hold = threading.Event()
            register(stack, backend, "/hooks", ["order.closed"])
            auth = {"Authorization": f"Bearer {api_key}"}
            body = {"merchant_order_no": f"K-{uuid.uuid4().hex[:8]}", "amount_fen": 100, "description": "kill",
                    "openid": "o-kill"}  # fmt: skip
            payment = httpx.post(stack.api + "/api/v1/payments", json=body, headers=auth, timeout=15).json()
            httpx.post(f"{stack.api}/api/v1/payments/{payment['id']}/cancel", headers=auth, timeout=15)
            env = {**os.environ, **service_env(database_url, stack.sim.base_url, free_port(), "x" * 32),
                   "SILVERPAY_WEBHOOK_LEASE_S": "1", "SILVERPAY_WORKER_POLL_S": "0.1"}  # fmt: skip
            log = open(tmp_path / "workers.log", "wb")  # noqa: SIM115  (closed below)
            first = subprocess.Popen([sys.executable, "-m", "silverpay", "worker"], env=env, stdout=log,
                                     stderr=subprocess.STDOUT)  # fmt: skip
            try:
                wait_for(lambda: backend.arrivals == 1, timeout=30)  # the first worker is mid-delivery
                os.kill(first.pid, signal.SIGKILL)
                first.wait(timeout=10)
                backend.hold.set()
                second = subprocess.Popen([sys.executable, "-m", "silverpay", "worker"], env=env, stdout=log,
                                          stderr=subprocess.STDOUT)  # fmt: skip
                try:
                    wait_for(lambda: len(backend.verified.get("/hooks", [])) >= 2, timeout=30)

                    def delivered() -> bool:
                        events = stack.call("GET", "/api/v1/events", headers=ADMIN).json()
                        return bool(events and events[0]["deliveries"][0]["status"] == "DELIVERED")

                    wait_for(delivered, timeout=30)
                finally:
                    stop(second)
            finally:
                if first.poll() is None:
                    first.kill()
                log.close()
            ids = {e["id"] for e in backend.verified["/hooks"]}
            assert len(ids) == 1 and backend.verified["/hooks"][0]["type"] == "order.closed"
            (event,) = stack.call("GET", "/api/v1/events", headers=ADMIN).json()
            assert event["deliveries"][0]["attempts"] == 1  # the killed worker's attempt never settled
