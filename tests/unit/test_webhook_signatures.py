"""Silverpay-Signature vectors (clients/webhooks/vectors.json, checked with openssl) for the Python
verifier, and the same vectors through the Node verifier (clients/webhooks/verify.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from silverpay.webhooks import WebhookVerificationError, sign_header, verify

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "webhooks"
V = json.loads((CLIENT / "vectors.json").read_text(encoding="utf-8"))
NOW = V["timestamp"] + 10


def test_vectors_sign() -> None:
    assert sign_header(V["body"], [V["secret"]], V["timestamp"]) == V["header"]
    assert sign_header(V["body"].encode(), [V["secret"], V["old_secret"]], V["timestamp"]) == V["header_rotating"]


def test_genuine_deliveries_verify() -> None:
    assert verify(V["body"], V["header"], V["secret"], now=NOW)["id"] == "evt_42"
    assert verify(V["body"].encode(), V["header_rotating"], V["secret"], now=NOW)["type"] == "order.paid"
    assert verify(V["body"], V["header_rotating"], V["old_secret"], now=NOW)["id"] == "evt_42"


@pytest.mark.parametrize(
    ("body", "header", "secret", "now"),
    [
        (V["body"].replace("PAID", "CLOSED"), V["header"], V["secret"], NOW),  # tampered body
        (V["body"], V["header"], "whsec_wrong", NOW),  # another secret
        (V["body"], V["header"], V["secret"], V["timestamp"] + 301),  # too old
        (V["body"], V["header"], V["secret"], V["timestamp"] - 301),  # from the future
        (V["body"], V["header"].replace("t=1700000000", "t=1700000001"), V["secret"], NOW),  # timestamp changed
        (V["body"], "", V["secret"], NOW),
        (V["body"], "v1=abc", V["secret"], NOW),
        (V["body"], "t=1700000000", V["secret"], NOW),
        (V["body"], "t=1700000000,v1=" + "0" * 63, V["secret"], NOW),
    ],
)
def test_forgeries_are_refused(body: str, header: str, secret: str, now: int) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(body, header, secret, now=now)


def test_node_verifier_passes_the_same_vectors() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node webhook verifier's tests need Node.js >= 20")
    completed = subprocess.run([node, "--test", str(CLIENT / "test" / "verify.test.mjs")], capture_output=True,
                               text=True, timeout=60, check=False)  # fmt: skip
    assert completed.returncode == 0, f"node --test failed:\n{completed.stdout}{completed.stderr}"
    assert "# pass 3" in completed.stdout and "# fail 0" in completed.stdout
