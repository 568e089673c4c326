"""The simulator as a process on a socket, driven by an unmodified third-party WeChat Pay v3 SDK
(PyPI ``wechatpayv3``): orders, notifications, refunds and bills, in both of the SDK's key modes.

The SDK has no base-URL option: it keeps the host in ``_core._gate_way``, which is set to the
simulator's address after construction (configuration, not a change to its code). In certificate
mode it loads platform certificates from ``cert_dir`` at construction (before that address can be
set), so the simulator's certificate is put there first, as an operator would; later rotations
come from the simulator's ``/v3/certificates``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from silverpay.sim.config import CLOSE_MIN_AGE_S, DEMO_API_V3_KEY, DEMO_APPID, DEMO_MCH_ID
from tests.e2e.processes import Process, Receiver, notify_receiver, silverpay, wait_for
from tests.e2e.stack import V3Files
from tests.service_harness import MERCHANT_SERIAL, merchant_key_pem

pytestmark = pytest.mark.e2e


def v3_receiver() -> contextlib.AbstractContextManager[Receiver]:
    """A notify URL that answers v3's empty 204."""
    return notify_receiver(status=204, reply=b"")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    logs = tmp_path_factory.mktemp("logs")
    files = V3Files(logs / "keys")
    with silverpay("sim", "--time-scale", "0.001", *files.sim_args(), ready_path="/sim/v1/clock",
                   log_dir=str(logs)) as process:  # fmt: skip
        yield process


@pytest.fixture(params=["public_key", "certificate"])
def sdk(request: pytest.FixtureRequest, sim: Process, tmp_path: Path) -> Iterator[WeChatPay]:
    mode: str = request.param
    platform = httpx.get(f"{sim.base_url}/sim/v1/platform").json()
    # The SDK reads any serial that is not its public key id as a certificate serial (int(…, 16)),
    # so in certificate mode the platform must not answer with the public key.
    httpx.put(f"{sim.base_url}/sim/v1/platform", json={"mode": mode}).raise_for_status()
    keys: dict[str, Any] = {}
    if mode == "public_key":
        keys = {"public_key": platform["public_key_pem"], "public_key_id": platform["public_key_id"]}
    else:
        (tmp_path / "certs").mkdir()
        (tmp_path / "certs" / f"{platform['serial']}.pem").write_text(platform["certificate_pem"])
        keys = {"cert_dir": str(tmp_path / "certs")}
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG, mchid=DEMO_MCH_ID, private_key=merchant_key_pem().decode(),
        cert_serial_no=MERCHANT_SERIAL, appid=DEMO_APPID, apiv3_key=DEMO_API_V3_KEY, timeout=(5, 10), **keys,
    )  # fmt: skip
    client._core._gate_way = sim.base_url  # the SDK's only way to choose a host
    yield client
    httpx.put(f"{sim.base_url}/sim/v1/platform", json={"mode": "mixed"}).raise_for_status()


def login(sim: Process, user: str) -> str:
    response = httpx.post(f"{sim.base_url}/sim/v1/login", json={"appid": DEMO_APPID, "user": user})
    response.raise_for_status()
    return str(response.json()["openid"])


def create(sdk: WeChatPay, openid: str, notify_url: str, total: int = 88) -> tuple[str, str]:
    out_trade_no = "SDK3" + secrets.token_hex(6)
    code, message = sdk.pay(description="SDK v3 order", out_trade_no=out_trade_no, amount={"total": total},
                            payer={"openid": openid}, notify_url=notify_url)  # fmt: skip
    assert code == 200, message  # the SDK raised already if the answer's signature did not verify
    return out_trade_no, json.loads(message)["prepay_id"]


def request_payment(sim: Process, sdk: WeChatPay, prepay_id: str, openid: str) -> httpx.Response:
    """What the mini-program does with the paySign the SDK computes (signType RSA, SPEC §3.7)."""
    time_stamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
    pay_sign = sdk.sign([DEMO_APPID, time_stamp, nonce, package])
    sheet = {"appid": DEMO_APPID, "openid": openid, "timeStamp": time_stamp, "nonceStr": nonce, "package": package,
             "signType": "RSA", "paySign": pay_sign}  # fmt: skip
    return httpx.post(f"{sim.base_url}/sim/v1/pay", json=sheet)


def test_sdk_create_pay_notify_query(sim: Process, sdk: WeChatPay) -> None:
    openid = login(sim, "sdk-v3-user")
    with v3_receiver() as receiver:
        out_trade_no, prepay_id = create(sdk, openid, receiver.url)
        paid = request_payment(sim, sdk, prepay_id, openid)
        assert paid.status_code == 200, paid.text
        wait_for(lambda: len(receiver.received) == 1)
        headers, body = receiver.received[0]
        result = sdk.callback(headers, body)  # None unless the signature verifies and the resource decrypts
        assert result is not None and result["event_type"] == "TRANSACTION.SUCCESS"
        resource = result["resource"]
        assert resource["out_trade_no"] == out_trade_no and resource["amount"]["total"] == 88
        assert resource["transaction_id"] == paid.json()["transaction_id"]
        tampered = body.replace(b'"summary":"', b'"summary":"!')
        assert sdk.callback(headers, tampered) is None
    code, message = sdk.query(out_trade_no=out_trade_no)
    assert code == 200
    queried = json.loads(message)
    assert queried["trade_state"] == "SUCCESS" and queried == resource


def test_sdk_create_and_close(sim: Process, sdk: WeChatPay) -> None:
    openid = login(sim, "sdk-v3-closer")
    out_trade_no, _ = create(sdk, openid, "http://127.0.0.1:9/notify", total=5)
    httpx.post(f"{sim.base_url}/sim/v1/clock", json={"advance_s": CLOSE_MIN_AGE_S}).raise_for_status()
    code, message = sdk.close(out_trade_no)
    assert code == 204 and not message  # the empty answer's signature verified too
    assert json.loads(sdk.query(out_trade_no=out_trade_no)[1])["trade_state"] == "CLOSED"


def test_sdk_refund_and_its_notification(sim: Process, sdk: WeChatPay) -> None:
    openid = login(sim, "sdk-v3-refunder")
    with v3_receiver() as receiver:
        out_trade_no, prepay_id = create(sdk, openid, receiver.url, total=300)
        assert request_payment(sim, sdk, prepay_id, openid).status_code == 200
        out_refund_no = "SDKR" + secrets.token_hex(6)
        code, message = sdk.refund(out_refund_no=out_refund_no, amount={"refund": 120, "total": 300, "currency": "CNY"},
                                   out_trade_no=out_trade_no, notify_url=receiver.url)  # fmt: skip
        assert code == 200 and json.loads(message)["status"] == "PROCESSING"
        httpx.post(f"{sim.base_url}/sim/v1/clock", json={"advance_s": 5}).raise_for_status()
        wait_for(lambda: len(receiver.received) == 2)
        refund = sdk.callback(*receiver.received[1])
        assert refund is not None and refund["event_type"] == "REFUND.SUCCESS"
        assert refund["resource"]["out_refund_no"] == out_refund_no and refund["resource"]["refund_status"] == "SUCCESS"
    assert json.loads(sdk.query_refund(out_refund_no)[1])["status"] == "SUCCESS"


def test_sdk_trade_bill(sim: Process, sdk: WeChatPay) -> None:
    openid = login(sim, "sdk-v3-biller")
    out_trade_no, prepay_id = create(sdk, openid, "http://127.0.0.1:9/notify", total=7)
    assert request_payment(sim, sdk, prepay_id, openid).status_code == 200
    day = httpx.get(f"{sim.base_url}/sim/v1/clock").json()["now"]
    httpx.post(f"{sim.base_url}/sim/v1/clock", json={"advance_s": 86400}).raise_for_status()
    code, message = sdk.trade_bill(time.strftime("%Y-%m-%d", time.gmtime(day + 8 * 3600)))
    assert code == 200, message
    answer = json.loads(message)
    code, data = sdk.download_bill(answer["download_url"])
    assert code == 200
    text = gzip.decompress(data)
    assert hashlib.sha1(text).hexdigest() == answer["hash_value"] and out_trade_no.encode() in text


def test_sdk_sees_business_errors(sim: Process, sdk: WeChatPay) -> None:
    code, message = sdk.query(out_trade_no="never-created")
    assert code == 404 and json.loads(message)["code"] == "ORDER_NOT_EXIST"
