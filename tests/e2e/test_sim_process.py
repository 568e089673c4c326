"""The simulator as a process on a socket, driven by an unmodified third-party SDK (wechatpy)."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wechatpy.pay import WeChatPay

from silverpay.sim.config import CLOSE_MIN_AGE_S, DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from tests.e2e.processes import SUCCESS_REPLY, Process, notify_receiver, silverpay, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    logs = str(tmp_path_factory.mktemp("logs"))
    with silverpay("sim", "--time-scale", "0.001", ready_path="/sim/v1/clock", log_dir=logs) as process:
        yield process


@pytest.fixture
def sdk(sim: Process) -> WeChatPay:
    client = WeChatPay(appid=DEMO_APPID, api_key=DEMO_API_KEY, mch_id=DEMO_MCH_ID, timeout=10)
    client.API_BASE_URL = sim.base_url + "/"  # configuration, not a modification
    return client


def login(sim: Process, user: str) -> str:
    response = httpx.post(f"{sim.base_url}/sim/v1/login", json={"appid": DEMO_APPID, "user": user})
    response.raise_for_status()
    return str(response.json()["openid"])


def test_wechatpy_create_pay_notify_query(sim: Process, sdk: WeChatPay) -> None:
    openid = login(sim, "sdk-user")
    out_trade_no = "SDK" + secrets.token_hex(6)
    with notify_receiver() as receiver:
        order = sdk.order.create(
            trade_type="JSAPI", body="SDK order", total_fee=88, notify_url=receiver.url,
            client_ip="127.0.0.1", user_id=openid, out_trade_no=out_trade_no,
        )  # fmt: skip
        assert sdk.check_signature(dict(order))
        params = sdk.jsapi.get_jsapi_params(order["prepay_id"])
        paid = httpx.post(f"{sim.base_url}/sim/v1/pay", json={**params, "appid": DEMO_APPID, "openid": openid})
        assert paid.status_code == 200, paid.text
        wait_for(lambda: len(receiver.bodies) == 1)
        notification = sdk.parse_payment_result(receiver.bodies[0])  # raises if the signature is wrong
        assert notification["out_trade_no"] == out_trade_no
        assert notification["total_fee"] == 88
        assert notification["transaction_id"] == paid.json()["transaction_id"]

    queried = sdk.order.query(out_trade_no=out_trade_no)
    assert sdk.check_signature(dict(queried))
    assert queried["trade_state"] == "SUCCESS"
    assert queried["transaction_id"] == notification["transaction_id"]


def test_wechatpy_create_and_close(sim: Process, sdk: WeChatPay) -> None:
    openid = login(sim, "sdk-closer")
    out_trade_no = "SDK" + secrets.token_hex(6)
    order = sdk.order.create(
        trade_type="JSAPI", body="to close", total_fee=5, notify_url="http://127.0.0.1:9/notify",
        client_ip="127.0.0.1", user_id=openid, out_trade_no=out_trade_no,
    )  # fmt: skip
    assert sdk.check_signature(dict(order))
    httpx.post(f"{sim.base_url}/sim/v1/clock", json={"advance_s": CLOSE_MIN_AGE_S}).raise_for_status()
    closed = sdk.order.close(out_trade_no)
    assert sdk.check_signature(dict(closed))
    assert sdk.order.query(out_trade_no=out_trade_no)["trade_state"] == "CLOSED"


def test_wechatpy_sees_business_errors(sim: Process, sdk: WeChatPay) -> None:
    from wechatpy.exceptions import WeChatPayException

    with pytest.raises(WeChatPayException) as excinfo:
        sdk.order.query(out_trade_no="never-created")
    assert excinfo.value.errcode == "ORDERNOTEXIST"


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = str(tmp_path / "sim.sqlite3")
    args = ("sim", "--state", state, "--time-scale", "0.001")
    client = WeChatPay(appid=DEMO_APPID, api_key=DEMO_API_KEY, mch_id=DEMO_MCH_ID, timeout=10)
    unpaid_no = "KEEP" + secrets.token_hex(6)
    with notify_receiver() as receiver:
        receiver.reply = b"<xml><return_code>FAIL</return_code></xml>"  # keep the notification pending
        with silverpay(*args, ready_path="/sim/v1/clock", log_dir=str(tmp_path)) as first:
            client.API_BASE_URL = first.base_url + "/"
            openid = login(first, "persistent")
            paid_no = "KEEP" + secrets.token_hex(6)
            for number in (unpaid_no, paid_no):
                order = client.order.create(
                    trade_type="JSAPI", body="kept", total_fee=7, notify_url=receiver.url,
                    client_ip="127.0.0.1", user_id=openid, out_trade_no=number,
                )  # fmt: skip
            params = client.jsapi.get_jsapi_params(order["prepay_id"])
            paid = httpx.post(f"{first.base_url}/sim/v1/pay", json={**params, "appid": DEMO_APPID, "openid": openid})
            assert paid.status_code == 200
            wait_for(lambda: len(receiver.bodies) >= 2)
            httpx.post(f"{first.base_url}/sim/v1/clock", json={"advance_s": 100}).raise_for_status()

        receiver.reply = SUCCESS_REPLY
        with silverpay(*args, ready_path="/sim/v1/clock", log_dir=str(tmp_path)) as second:
            client.API_BASE_URL = second.base_url + "/"
            assert client.order.query(out_trade_no=unpaid_no)["trade_state"] == "NOTPAY"
            assert client.order.query(out_trade_no=paid_no)["trade_state"] == "SUCCESS"
            assert httpx.get(f"{second.base_url}/sim/v1/clock").json()["offset_s"] >= 100
            # The pending notification resumes its schedule and is acknowledged this time.
            log_url = f"{second.base_url}/sim/v1/notifications?out_trade_no={paid_no}"
            wait_for(lambda: any(a["acknowledged"] for a in httpx.get(log_url).json()))
            attempts = httpx.get(log_url).json()
            assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
            assert sum(a["acknowledged"] for a in attempts) == 1
