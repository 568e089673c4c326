"""The mini-program client module's own tests (Node's built-in runner), run from pytest.

They start a real service and simulator as subprocesses themselves, with this interpreter, so
the suite's `make test` covers the JavaScript half as well.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "clients" / "miniprogram" / "test"


def test_node_suite_passes() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the mini-program client tests need Node.js >= 20")
    files = sorted(TESTS.glob("*.test.mjs"))
    assert files, f"no *.test.mjs files in {TESTS}"
    # Files, not the directory: Node 21+ reads arguments to --test as globs, not directories.
    completed = subprocess.run(
        [node, "--test", "--test-reporter=tap", *map(str, files)],
        cwd=REPO, env={**os.environ, "SILVERPAY_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    print(output)  # pytest shows it with the failure
    counts = {key: int(value) for key, value in re.findall(r"^# (tests|pass|fail|cancelled) (\d+)$", output, re.M)}
    assert completed.returncode == 0, f"node --test failed:\n{output}"
    assert counts.get("fail") == 0 and counts.get("cancelled") == 0, output
    # Far fewer passes than written means whole files went missing without failing.
    assert counts.get("pass", 0) >= 40 and counts["pass"] == counts.get("tests"), output
