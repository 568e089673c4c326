"""The simulator's version-neutral core seen from both wires: one trade across API versions,
strict v3 fields, seeded trades, and state files (today's and the old format)."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from silverpay.beijing import format_beijing
from silverpay.sim.app import create_sim_app
from silverpay.sim.config import DEMO_APPID, DEMO_MCH_ID, SimConfig
from silverpay.sim.persistence import SqliteFile
from tests.conftest import SimHarness
from tests.integration.test_sim_v3 import NOTIFY_URL, call, error, order_body, query
from tests.service_harness import V3Signing
from tests.service_harness import sim_config as make_sim_config
from tests.sheet import payment_sheet
from tests.sim_seed import sim_seed
from tests.v2wire import call as call_v2
from tests.v2wire import order_params
from tests.waiting import eventually

SEED = "/sim/v1/trades:seed"


@pytest.fixture
def sim_config() -> SimConfig:
    """The demo merchant with a v3 identity, so both wires reach the same trades."""
    return make_sim_config("v3", time_scale=0.001, key_mode="certificate")


@pytest.fixture
def wire(harness: SimHarness) -> V3Signing:
    return V3Signing(harness.sim)


def new_no() -> str:
    return "C" + secrets.token_hex(8)


# One trade, two API versions -------------------------------------------------------------------


async def test_a_v2_order_reentered_through_v3_becomes_a_v3_trade(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    out_trade_no = new_no()
    params = order_params(out_trade_no, user["openid"], total_fee=100, notify_url=NOTIFY_URL, body="v3 test")
    v2 = await call_v2(harness.client, "/pay/unifiedorder", params)
    assert v2["result_code"] == "SUCCESS", v2
    trade = (await harness.client.get(f"/sim/v1/trades/{out_trade_no}")).json()
    assert (trade["api"], trade["sign_type"]) == ("v2", "MD5")

    # The same terms through v3: the same trade and prepay, now a v3 trade.
    v3 = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", order_body(out_trade_no, user["openid"]))
    assert v3.status_code == 200 and v3.json()["prepay_id"] == v2["prepay_id"]
    trade = (await harness.client.get(f"/sim/v1/trades/{out_trade_no}")).json()
    assert (trade["api"], trade["sign_type"]) == ("v3", "RSA")
    md5 = await harness.client.post("/sim/v1/pay", json=payment_sheet(v2["prepay_id"], user["openid"]))
    assert md5.status_code == 403  # a v3 trade's sheet is signed with RSA

    paid = await harness.client.post("/sim/v1/pay", json={**wire.pay_params(v2["prepay_id"]), "appid": DEMO_APPID,
                                                          "openid": user["openid"]})  # fmt: skip
    assert paid.status_code == 200, paid.text
    await eventually(lambda: len(harness.merchant.requests) == 1)
    note = harness.merchant.requests[0]
    assert note.headers["content-type"] == "application/json" and "Wechatpay-Signature" in note.headers
    assert harness.merchant.received == []  # no v2 XML
    v2_query = await call_v2(harness.client, "/pay/orderquery", {"out_trade_no": out_trade_no})
    assert (v2_query["trade_state"], v2_query["transaction_id"]) == ("SUCCESS", paid.json()["transaction_id"])


async def test_other_v3_terms_are_out_trade_no_used(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    body = order_body(new_no(), user["openid"], goods_tag="WXG", detail={"cost_price": 100})
    assert (await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", body)).status_code == 200
    again = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", {**body, "detail": {"cost_price": 100}})
    assert again.status_code == 200
    for change in ({"goods_tag": "OTHER"}, {"detail": {"cost_price": 99}}, {"attach": "x"}, {"description": "y"}):
        answer = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", {**body, **change})
        assert error(answer) == (403, "OUT_TRADE_NO_USED"), change


# Strict v3 fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"amount": {"total": 1.0}}, "amount.total参数类型错误", "/amount/total"),
        ({"amount": {"total": True}}, "amount.total参数类型错误", "/amount/total"),
        ({"amount": {"total": 100, "currency": "USD"}}, "amount.currency参数格式错误", "/amount/currency"),
        ({"description": None}, "缺少参数description", "/description"),
        ({"description": ""}, "缺少参数description", "/description"),
        ({"payer": {}}, "缺少参数payer.openid", "/payer/openid"),
        ({"out_trade_no": "x" * 33}, "out_trade_no参数长度有误", "/out_trade_no"),
        ({"attach": "字" * 43}, "attach参数长度有误", "/attach"),  # 129 UTF-8 bytes
        ({"scene_info": {"payer_client_ip": "not-an-ip"}}, "scene_info.payer_client_ip参数格式错误",
         "/scene_info/payer_client_ip"),
    ],
)  # fmt: skip
async def test_v3_fields_are_strict(
    harness: SimHarness, wire: V3Signing, change: dict[str, Any], message: str, field: str
) -> None:
    user = await harness.login()
    response = await call(harness, wire, "POST", "/v3/pay/transactions/jsapi",
                          {**order_body(new_no(), user["openid"]), **change})  # fmt: skip
    assert response.status_code == 400 and response.json() == {
        "code": "PARAM_ERROR", "message": message, "detail": {"field": field, "location": "body"}}  # fmt: skip
    wire.verify(response)


async def test_unknown_v3_fields_are_ignored_and_null_is_absent(harness: SimHarness, wire: V3Signing) -> None:
    user = await harness.login()
    out_trade_no = new_no()
    body = {**order_body(out_trade_no, user["openid"]), "attach": None, "no_such_field": {"x": 1}}
    assert (await call(harness, wire, "POST", "/v3/pay/transactions/jsapi", body)).status_code == 200
    assert "attach" not in (await query(harness, wire, out_trade_no)).json()
    refund = await call(harness, wire, "POST", "/v3/refund/domestic/refunds",
                        {"out_refund_no": "R1", "amount": {"refund": 1, "total": 100}})  # fmt: skip
    assert refund.json() == {"code": "PARAM_ERROR", "message": "transaction_id和out_trade_no不能同时为空"}


# Seeding ---------------------------------------------------------------------------------------


async def test_seeded_trades_answer_on_both_wires_and_notify_nothing(harness: SimHarness, wire: V3Signing) -> None:
    paid_at = harness.sim.clock.now() - 3600
    nos = [new_no() for _ in range(3)]
    seeded = await harness.client.post(SEED, json={"trades": [
        {"out_trade_no": nos[0], "amount_fen": 150, "openid": "o-seed", "state": "NOTPAY"},
        {"out_trade_no": nos[1], "amount_fen": 250, "openid": "o-seed", "state": "SUCCESS", "api": "v3",
         "paid_at": paid_at},
        {"out_trade_no": nos[2], "amount_fen": 350, "openid": "o-seed", "state": "CLOSED"},
    ]})  # fmt: skip
    assert seeded.status_code == 201, seeded.text
    doc = seeded.json()
    assert (doc["mch_id"], doc["appid"], doc["seeded"]) == (DEMO_MCH_ID, DEMO_APPID, 3)
    assert [t["transaction_id"] != "" for t in doc["trades"]] == [False, True, False]

    states = [(await call_v2(harness.client, "/pay/orderquery", {"out_trade_no": no})) for no in nos]
    assert [(s["trade_state"], s["total_fee"]) for s in states] == [("NOTPAY", "150"), ("SUCCESS", "250"),
                                                                     ("CLOSED", "350")]  # fmt: skip
    assert states[1]["time_end"] == format_beijing(paid_at) and states[1]["transaction_id"] == doc["trades"][1][
        "transaction_id"]  # fmt: skip
    v3_paid = (await query(harness, wire, nos[1])).json()
    assert v3_paid["trade_state"] == "SUCCESS" and v3_paid["payer"] == {"openid": "o-seed"}
    trade = (await harness.client.get(f"/sim/v1/trades/{nos[1]}")).json()
    assert trade["api"] == "v3" and trade["history"][0]["event"] == "seeded"
    assert harness.sim.state.deliveries == {}  # nothing was enqueued, so nothing will be sent

    # A seeded paid trade refunds like any other.
    refund = await call_v2(harness.client, "/secapi/pay/refund", {"out_trade_no": nos[1], "out_refund_no": "RS1",
                                                                   "total_fee": 250, "refund_fee": 50})  # fmt: skip
    assert refund["result_code"] == "SUCCESS", refund


async def test_seeding_is_all_or_nothing_and_bounded(harness: SimHarness) -> None:
    taken = new_no()
    assert (await harness.client.post(SEED, json={"trades": [{"out_trade_no": taken, "amount_fen": 1,
                                                               "openid": "o"}]})).status_code == 201  # fmt: skip
    fresh = new_no()
    pair = [{"out_trade_no": no, "amount_fen": 1, "openid": "o"} for no in (fresh, taken)]
    clash = await harness.client.post(SEED, json={"trades": pair})
    assert clash.status_code == 409 and taken in clash.json()["detail"]
    assert (await harness.client.get(f"/sim/v1/trades/{fresh}")).status_code == 404
    twice = [{"out_trade_no": fresh, "amount_fen": 1, "openid": "o"}] * 2
    assert (await harness.client.post(SEED, json={"trades": twice})).status_code == 409

    too_many = [{"out_trade_no": f"M{i}", "amount_fen": 1, "openid": "o"} for i in range(10_001)]
    assert (await harness.client.post(SEED, json={"trades": too_many})).status_code == 422
    for bad in ({"mch_id": "1900000999"}, {"appid": "wx0000000000000000"}):
        one = {"out_trade_no": new_no(), "amount_fen": 1, "openid": "o"}
        response = await harness.client.post(SEED, json={**bad, "trades": [one]})
        assert response.status_code == 400, bad
    for item in ({"amount_fen": 0}, {"state": "REFUND"}, {"out_trade_no": "has space"}, {"paid_at": 1.0}):
        one = {"out_trade_no": new_no(), "amount_fen": 1, "openid": "o", **item}
        assert (await harness.client.post(SEED, json={"trades": [one]})).status_code in (400, 422), item


# State files -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sim_on(state_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_sim_app(SimConfig.single(state_path=str(state_path), time_scale=0.001, seed=sim_seed()))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_seeded_trades_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sim.sqlite3"
    trades = [{"out_trade_no": f"K{i}", "amount_fen": 10 + i, "openid": "o", "state": "SUCCESS"} for i in range(50)]
    async with sim_on(state) as client:
        seeded = (await client.post(SEED, json={"trades": trades})).json()["trades"]
    async with sim_on(state) as client:
        answer = await call_v2(client, "/pay/orderquery", {"out_trade_no": "K49"})
        assert (answer["trade_state"], answer["total_fee"]) == ("SUCCESS", "59")
        by_id = await call_v2(client, "/pay/orderquery", {"transaction_id": seeded[7]["transaction_id"]})
        assert by_id["out_trade_no"] == "K7"


async def test_state_files_of_the_old_format_are_read(tmp_path: Path) -> None:
    """Rows as the simulator wrote them before the neutral core: v2 fields, v3 marked by 'RSA'."""
    state = tmp_path / "old.sqlite3"
    now = time.time()
    paid_at = float(int(now) - 600)
    old = SqliteFile(str(state))
    common = {"mch_id": DEMO_MCH_ID, "appid": DEMO_APPID, "openid": "o-old", "trade_type": "JSAPI", "body": "old",
              "total_fee": 300, "fee_type": "CNY", "attach": "", "notify_url": "http://merchant.test/notify",
              "created_at": now - 900, "time_expire": None, "prepay_expires_at": now + 6300, "closed_at": None,
              "history": [{"at": now - 900, "event": "created"}]}  # fmt: skip
    business = {"appid": DEMO_APPID, "mch_id": DEMO_MCH_ID, "body": "old", "total_fee": "300", "openid": "o-old",
                "notify_url": "http://merchant.test/notify", "trade_type": "JSAPI"}  # fmt: skip
    old.put("trade", f"{DEMO_MCH_ID}:OLD2", {
        **common, "out_trade_no": "OLD2", "business": {**business, "out_trade_no": "OLD2", "device_info": "WEB"},
        "sign_type": "HMAC-SHA256", "prepay_id": "wxold2", "trade_state": "REFUND", "transaction_id": "4200old2",
        "time_end": format_beijing(paid_at), "bank_type": "OTHERS", "cash_fee": 300})  # fmt: skip
    old.put("trade", f"{DEMO_MCH_ID}:OLD3", {
        **common, "out_trade_no": "OLD3", "business": {**business, "out_trade_no": "OLD3", "fee_type": "CNY"},
        "sign_type": "RSA", "prepay_id": "wxold3", "trade_state": "NOTPAY", "transaction_id": "", "time_end": "",
        "bank_type": "", "cash_fee": 0})  # fmt: skip
    old.put("refund", f"{DEMO_MCH_ID}:ROLD", {
        "mch_id": DEMO_MCH_ID, "out_refund_no": "ROLD", "out_trade_no": "OLD2", "transaction_id": "4200old2",
        "refund_id": "5030old", "total_fee": 300, "refund_fee": 100, "refund_desc": "", "notify_url": "",
        "created_at": now - 500, "due_at": now - 499, "outcome": "REFUNDCLOSE", "refund_status": "REFUNDCLOSE",
        "success_time": None, "api": "v2"})  # fmt: skip
    old.close()

    async with sim_on(state) as client:
        paid = await call_v2(client, "/pay/orderquery", {"out_trade_no": "OLD2"})
        assert (paid["trade_state"], paid["time_end"], paid["cash_fee"]) == ("REFUND", format_beijing(paid_at), "300")
        refunds = await call_v2(client, "/pay/refundquery", {"out_trade_no": "OLD2"})
        assert (refunds["refund_count"], refunds["refund_status_0"]) == ("1", "REFUNDCLOSE")
        v3_trade = (await client.get("/sim/v1/trades/OLD3")).json()
        assert (v3_trade["api"], v3_trade["extras"], v3_trade["description"]) == ("v3", [], "old")
        v2_trade = (await client.get("/sim/v1/trades/OLD2")).json()
        assert (v2_trade["api"], v2_trade["extras"]) == ("v2", [["device_info", "WEB"]])
        # The closed refund frees its amount again: 300 more would be over, 300 - 0 reserved is not.
        again = await call_v2(client, "/secapi/pay/refund", {"out_trade_no": "OLD2", "out_refund_no": "RNEW",
                                                             "total_fee": 300, "refund_fee": 300})  # fmt: skip
        assert again["result_code"] == "SUCCESS", again
