"""Each command checks the settings it uses, and only those: `serve` the API's (WeChat credentials, JWT
secret, notify URL — made up in demo mode), `worker` and `reconcile` WeChat Pay's. A bad one is one
line naming it, exit 2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from silverpay.config import Settings
from silverpay.jobs.worker import Worker
from tests.cli_env import API, PAY, beijing_days_ago, invoke


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`serve` stops where it would start the server: what it would have started with."""
    calls: list[dict[str, Any]] = []

    def run(target: str, **options: Any) -> None:
        calls.append({"target": target, "notify_url": os.environ.get("SILVERPAY_NOTIFY_URL"),
                      "jwt_secret": os.environ.get("SILVERPAY_JWT_SECRET"), **options})  # fmt: skip

    monkeypatch.setattr("uvicorn.run", run)  # serve imports uvicorn when it runs
    return calls


def test_serve_in_demo_mode_makes_up_its_notify_url(environ: Path, served: list[dict[str, Any]]) -> None:
    code, output = invoke("serve", "--host", "0.0.0.0", "--port", "8123", SILVERPAY_DEMO_MODE="1")
    assert code == 0, output
    assert "missing" not in output and "NOTIFY_URL" not in output
    assert served[0]["notify_url"] == "http://127.0.0.1:8123/api/v1/wechat/notify"
    assert served[0]["port"] == 8123
    assert len(served[0]["jwt_secret"]) >= 32  # one for all its processes (--workers N), not one each


def test_serve_in_demo_mode_keeps_a_given_jwt_secret(environ: Path, served: list[dict[str, Any]]) -> None:
    (environ / ".env").write_text("SILVERPAY_JWT_SECRET=" + "e" * 40 + "\n", encoding="utf-8")
    code, output = invoke("serve", SILVERPAY_DEMO_MODE="1")
    assert code == 0, output
    assert served[0]["jwt_secret"] == "e" * 40


def test_serve_in_demo_mode_keeps_a_given_notify_url(environ: Path, served: list[dict[str, Any]]) -> None:
    url = "http://shop.test:8000/api/v1/wechat/notify"  # demo mode: plain http on any host
    code, output = invoke("serve", SILVERPAY_DEMO_MODE="1", SILVERPAY_NOTIFY_URL=url)
    assert code == 0, output
    assert served[0]["notify_url"] == url


def test_serve_names_every_missing_setting(environ: Path, served: list[dict[str, Any]]) -> None:
    code, output = invoke("serve")
    assert code == 2 and not served
    for name in ("WECHAT_APPID", "WECHAT_SECRET", "WECHAT_MCH_ID", "WECHAT_API_KEY", "JWT_SECRET", "NOTIFY_URL"):
        assert f"SILVERPAY_{name}" in output
    assert "SILVERPAY_DEMO_MODE=1" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("demo", ["0", "1"])
def test_serve_refuses_a_notify_url_that_is_not_a_url(environ: Path, served: list[dict[str, Any]], demo: str) -> None:
    code, output = invoke("serve", **API, SILVERPAY_DEMO_MODE=demo, SILVERPAY_NOTIFY_URL="notaurl")
    assert code == 2 and not served
    assert "configuration error: SILVERPAY_NOTIFY_URL must be an absolute https URL" in output
    assert "'notaurl'" in output


def test_worker_needs_only_wechat_pay(environ: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[bool] = []

    async def run_once(self: Worker, stop: Any, *, poll_s: float) -> None:
        ran.append(True)

    monkeypatch.setattr(Worker, "run", run_once)
    code, output = invoke("worker", **PAY)
    assert code == 0, output
    assert ran == [True]


def test_worker_names_only_what_it_uses(environ: Path) -> None:
    code, output = invoke("worker")
    assert code == 2
    assert "SILVERPAY_WECHAT_APPID" in output and "SILVERPAY_WECHAT_API_KEY" in output
    for unused in ("JWT_SECRET", "NOTIFY_URL", "WECHAT_SECRET"):
        assert unused not in output


def test_worker_refuses_a_notify_url_that_is_not_a_url(environ: Path) -> None:
    """Not needed, but when given it is the one refunds are re-sent with: it must be usable."""
    code, output = invoke("worker", **PAY, SILVERPAY_NOTIFY_URL="notaurl")
    assert code == 2
    assert "SILVERPAY_NOTIFY_URL must be an absolute https URL" in output


def test_reconcile_names_only_what_it_uses(environ: Path) -> None:
    code, output = invoke("reconcile", "--date", beijing_days_ago(1), SILVERPAY_WECHAT_APPID="wx1")
    assert code == 2
    assert "SILVERPAY_WECHAT_MCH_ID" in output and "SILVERPAY_WECHAT_API_KEY" in output
    for unused in ("JWT_SECRET", "NOTIFY_URL", "WECHAT_SECRET", "WECHAT_APPID"):
        assert unused not in output


def test_a_malformed_setting_is_one_line(environ: Path) -> None:
    code, output = invoke("worker", **PAY, SILVERPAY_WORKER_BATCH="many")
    assert code == 2
    assert output.startswith("configuration error: SILVERPAY_WORKER_BATCH:")
    assert "Traceback" not in output


def test_check_ready_for_the_api_and_for_the_jobs() -> None:
    pay = {"wechat_appid": "wx1", "wechat_mch_id": "1900000109", "wechat_api_key": "k" * 32}
    Settings(_env_file=None, **pay).check_ready(api=False)  # type: ignore[call-arg]
    with pytest.raises(Exception, match="SILVERPAY_JWT_SECRET"):
        Settings(_env_file=None, **pay).check_ready()  # type: ignore[call-arg]
