"""The service behind PgBouncer in transaction mode (Debian's pgbouncer, started by the test):
every statement may reach another server connection than the previous one outside a
transaction, so nothing may rely on a prepared statement surviving between transactions."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.service_harness import running_harness
from tests.waiting import eventually

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bouncer_url(make_database: Any) -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, reached through a PgBouncer of its own."""
    if not os.path.exists(PGBOUNCER):
        pytest.skip("pgbouncer is not installed (Debian package pgbouncer; .ci/run installs it)")
    url = make_url(make_database("postgresql"))
    workdir = Path(tempfile.mkdtemp(prefix="silverpay-pgbouncer-"))
    workdir.chmod(0o755)  # PgBouncer refuses to run as root: it runs as postgres and reads these
    port = _free_port()
    (workdir / "users.txt").write_text(f'"{url.username}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"[databases]\n{url.database} = host={url.host} port={url.port or 5432}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\npool_mode = transaction\n"
        "default_pool_size = 3\nmax_client_conn = 100\nignore_startup_parameters = extra_float_digits\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
    )
    (workdir / "pgbouncer.log").touch()
    for path in workdir.iterdir():
        path.chmod(0o666 if path.suffix == ".log" else 0o644)
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pgbouncer did not start: {(workdir / 'pgbouncer.log').read_text()}")
            time.sleep(0.05)
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


async def test_payments_settle_through_pgbouncer_in_transaction_mode(bouncer_url: str) -> None:
    async with running_harness(bouncer_url, db_pgbouncer=True, db_pool_size=6) as h:
        alice = await h.shopper()
        orders = [await h.paid_order(alice, price_fen=1000 + i) for i in range(4)]

        async def all_paid() -> bool:
            return [(await h.get(alice, o["id"]))["status"] for o in orders] == ["PAID"] * len(orders)

        await eventually(all_paid)  # notifications: the asyncpg ledger
        for order in orders:  # confirms, reads and the ORM's admin view, interleaved on 3 server connections
            confirmed = await h.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=alice.auth)
            assert confirmed.json()["status"] == "PAID"
            assert [e["detail"]["to"] for e in (await h.admin_order(order["id"]))["events"] if e["kind"] == "status"] \
                == ["CREATED", "PAYING", "PAID"]  # fmt: skip
        assert (await h.refund(orders[0]["id"], 500)).status_code == 201  # the ORM path, with its own statements
        unpaid = await h.order(alice)
        await h.pay_params(alice, unpaid["id"])
        await h.advance(20)
        assert await h.worker().run_once() >= 1  # the sweeper's claim and batch settle
