"""`silverpay demo --once --api v3` as a user runs it: no key files, the walk-through ends PAID."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.processes import free_port

pytestmark = pytest.mark.e2e
# A wide console (the walk-through prints panels), and none of the caller's SILVERPAY_* settings.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SILVERPAY_")} | {"COLUMNS": "200"}


@pytest.mark.parametrize("v3_keys", ["public-key", "certificate"])
def test_demo_walks_through_on_api_v3(tmp_path, v3_keys: str) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-m", "silverpay", "demo", "--once", "--api", "v3", "--v3-keys", v3_keys,
         "--port", str(free_port()), "--sim-port", str(free_port())],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WeChat Pay API v3" in done.stdout and "signType" in done.stdout and '"RSA"' in done.stdout
    assert "HTTP 204, acknowledged=True" in done.stdout and "is PAID" in done.stdout
    # The demo product is virtual goods: shipped by the worker, confirmed by the buyer, settled.
    assert "shipped automatically" in done.stdout and "funds SETTLED" in done.stdout
