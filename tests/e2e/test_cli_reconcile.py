"""`silverpay reconcile` against the simulator on a socket: the date is checked before anything is
asked or opened, and a CSV is written only when asked for, and only by a run that succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_env import beijing_days_ago, invoke
from tests.e2e.processes import Process, free_port, silverpay

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    with silverpay("sim", ready_path="/sim/v1/clock", log_dir=str(tmp_path_factory.mktemp("sim"))) as process:
        yield process


def files(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


@pytest.mark.parametrize(("date", "says"), [
    (0, "--date: WeChat has bills for past days only"),  # today in Beijing
    (93, "--date: WeChat keeps bills for three months"),
    ("2026-02-30", "--date must be YYYY-MM-DD, not '2026-02-30'"),
    ("20260101", "--date must be YYYY-MM-DD"),
])  # fmt: skip
def test_a_day_without_a_bill_is_refused_before_anything(environ: Path, date: int | str, says: str) -> None:
    port = free_port()  # nothing listens there: a call would fail differently
    day = beijing_days_ago(date) if isinstance(date, int) else date  # now, not at collection
    code, output = invoke("reconcile", "--date", day, "--csv", "out.csv", SILVERPAY_DEMO_MODE="1",
                          SILVERPAY_WECHAT_PAY_BASE=f"http://127.0.0.1:{port}")  # fmt: skip
    assert code == 2
    assert output.startswith(says), output
    assert files(environ) == set()  # not even the SQLite database was opened


def test_no_csv_unless_asked(environ: Path, sim: Process) -> None:
    code, output = invoke("reconcile", "--date", beijing_days_ago(1), SILVERPAY_DEMO_MODE="1",
                          SILVERPAY_WECHAT_PAY_BASE=sim.base_url)  # fmt: skip
    assert code == 0, output
    assert "discrepancies: 0" in output and "CSV" not in output
    assert "silverpay.db" in files(environ)
    assert not [name for name in files(environ) if name.endswith(".csv")]


def test_the_csv_when_asked(environ: Path, sim: Process) -> None:
    code, output = invoke("reconcile", "--date", beijing_days_ago(92), "--csv", "out.csv", SILVERPAY_DEMO_MODE="1",
                          SILVERPAY_WECHAT_PAY_BASE=sim.base_url)  # fmt: skip
    assert code == 0, output
    assert "CSV: out.csv" in output
    assert (environ / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "kind,out_trade_no,out_refund_no,wechat_yuan,local_yuan,resolved,detail"
    ]


def test_no_csv_from_a_failed_run(environ: Path) -> None:
    port = free_port()  # WeChat does not answer
    code, output = invoke("reconcile", "--date", beijing_days_ago(1), "--csv", "out.csv", SILVERPAY_DEMO_MODE="1",
                          SILVERPAY_WECHAT_PAY_BASE=f"http://127.0.0.1:{port}")  # fmt: skip
    assert code == 2
    assert output.startswith("reconciliation failed: UPSTREAM_UNAVAILABLE"), output
    assert not (environ / "out.csv").exists()


def test_a_csv_in_no_directory_is_refused_first(environ: Path) -> None:
    day = beijing_days_ago(1)
    code, output = invoke("reconcile", "--date", day, "--csv", "missing/out.csv", SILVERPAY_DEMO_MODE="1")
    assert code == 2
    assert output.startswith("--csv: no directory 'missing'")
    assert files(environ) == set()
