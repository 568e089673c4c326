"""The simulator's shipping-info management: every rule and errcode, the order states, the timers."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from silverpay.sim.config import AUTO_CONFIRM_S, DEMO_APPID, DEMO_MCH_ID, SimConfig
from tests.conftest import SimHarness
from tests.miniapp import Paid, order_api, pay_order, seed_paid, sim_harness, token, upload_body
from tests.sim_seed import sim_seed
from tests.v2wire import call
from tests.waiting import eventually


async def advance(h: SimHarness, seconds: float) -> None:
    assert (await h.client.post("/sim/v1/clock", json={"advance_s": seconds})).status_code == 200


async def now(h: SimHarness) -> float:
    return float((await h.client.get("/sim/v1/clock")).json()["now"])


async def upload(h: SimHarness, access: str, paid: Paid, *, later: float = 0, **overrides: Any) -> dict[str, Any]:
    return await order_api(h, "upload_shipping_info", upload_body(paid, at=await now(h) + later, **overrides), access)


async def get_order(h: SimHarness, access: str, paid: Paid) -> dict[str, Any]:
    answer = await order_api(h, "get_order", {"transaction_id": paid.transaction_id}, access)
    assert answer["errcode"] == 0, answer
    return answer["order"]  # type: ignore[no-any-return]


def parcel(tracking_no: str = "YT1234567890", desc: str = "微信红包抱枕*1个", **extra: Any) -> dict[str, Any]:
    return {"tracking_no": tracking_no, "express_company": "YTO", "item_desc": desc, **extra}


# Uploads and get_order --------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["transaction", "out_trade_no"])
async def test_upload_then_get_order(harness: SimHarness, by: str) -> None:
    access, paid = await token(harness), await pay_order(harness)
    before = await get_order(harness, access, paid)
    assert before["order_state"] == 1 and "shipping" not in before
    assert before["merchant_trade_no"] == paid.out_trade_no and before["merchant_id"] == DEMO_MCH_ID
    assert before["paid_amount"] == paid.amount_fen and before["openid"] == paid.openid and before["pay_time"] > 0

    assert await upload(harness, access, paid, by=by) == {"errcode": 0, "errmsg": "ok"}
    order = await get_order(harness, access, paid)
    assert order["order_state"] == 2
    shipping = order["shipping"]
    assert shipping["logistics_type"] == 1 and shipping["delivery_mode"] == 1
    assert shipping["finish_shipping"] is True and shipping["finish_shipping_count"] == 1
    assert shipping["shipping_list"][0]["tracking_no"] == "YT1234567890"
    assert shipping["shipping_list"][0]["goods_desc"] == "微信红包抱枕*1个"
    by_no = await order_api(harness, "get_order", {"merchant_id": DEMO_MCH_ID, "merchant_trade_no": paid.out_trade_no},
                            access)  # fmt: skip
    assert by_no["order"] == order


async def test_identical_reupload_is_10060023_and_changes_nothing(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    assert (await upload(harness, access, paid))["errcode"] == 0
    again = await upload(harness, access, paid, later=60)  # same content, later upload_time
    assert again["errcode"] == 10060023
    record = (await harness.client.get(f"/sim/v1/shipments/{paid.transaction_id}")).json()["shipment"]
    assert record["uploads"] == 1 and record["reship_used"] is False and record["finish_count"] == 1


async def test_one_reship_then_10060003(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    assert (await upload(harness, access, paid))["errcode"] == 0
    changed = await upload(harness, access, paid, later=10, shipping_list=[parcel("YT0000000002")])
    assert changed["errcode"] == 0
    shipping = (await get_order(harness, access, paid))["shipping"]
    assert shipping["finish_shipping_count"] == 2 and shipping["shipping_list"][0]["tracking_no"] == "YT0000000002"
    third = await upload(harness, access, paid, later=20, shipping_list=[parcel("YT0000000003")])
    assert third["errcode"] == 10060003
    # The same content as now is still only "unchanged", not a refusal.
    same = await upload(harness, access, paid, later=30, shipping_list=[parcel("YT0000000002")])
    assert same["errcode"] == 10060023


async def test_changing_the_logistics_type_is_the_reship(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    virtual = {"logistics_type": 3, "shipping_list": [{"item_desc": "会员月卡"}]}
    assert (await upload(harness, access, paid, **virtual))["errcode"] == 0
    assert (await upload(harness, access, paid, later=5))["errcode"] == 0  # now express: the re-ship
    assert (await upload(harness, access, paid, later=9, **virtual))["errcode"] == 10060003


async def test_split_delivery_grows_without_using_the_reship(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    split = {"delivery_mode": 2, "is_all_delivered": False}
    assert (await upload(harness, access, paid, shipping_list=[parcel("P1")], **split))["errcode"] == 0
    assert (await get_order(harness, access, paid))["order_state"] == 1  # not everything shipped yet
    two = [parcel("P1"), parcel("P2", "second box")]
    assert (await upload(harness, access, paid, later=5, shipping_list=two, **split))["errcode"] == 0
    done = {"delivery_mode": 2, "is_all_delivered": True}
    assert (await upload(harness, access, paid, later=9, shipping_list=two, **done))["errcode"] == 0
    order = await get_order(harness, access, paid)
    assert order["order_state"] == 2 and order["shipping"]["finish_shipping_count"] == 1
    first, second = order["shipping"]["shipping_list"]
    assert first["upload_time"] < second["upload_time"]  # each parcel keeps when it was first uploaded
    assert order["shipping"]["goods_desc"] == "微信红包抱枕*1个;second box"
    three = [*two, parcel("P3")]
    assert (await upload(harness, access, paid, later=20, shipping_list=three, **done))["errcode"] == 0  # re-ship
    assert (await upload(harness, access, paid, later=30, shipping_list=two, **done))["errcode"] == 10060003


async def test_an_update_needs_a_later_upload_time(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    assert (await upload(harness, access, paid, later=100))["errcode"] == 0
    stale = await upload(harness, access, paid, later=50, shipping_list=[parcel("YT9")])
    assert stale["errcode"] == 40097 and "upload_time" in stale["errmsg"]


async def test_payment_must_exist_be_paid_and_be_this_apps(harness: SimHarness) -> None:
    access = await token(harness)
    ghost = Paid("NOPE" + secrets.token_hex(4), "4200000000000000000000000000", "o-x", 1)
    assert (await upload(harness, access, ghost))["errcode"] == 10060001
    assert (await upload(harness, access, ghost, by="out_trade_no"))["errcode"] == 10060001
    assert (await order_api(harness, "get_order", {"transaction_id": ghost.transaction_id}, access))[
        "errcode"] == 10060001  # fmt: skip
    unpaid = "U" + secrets.token_hex(6)
    seeded = await harness.client.post(
        "/sim/v1/trades:seed", json={"trades": [{"out_trade_no": unpaid, "amount_fen": 5, "openid": "o"}]}
    )
    assert seeded.status_code == 201  # fmt: skip
    assert (await upload(harness, access, Paid(unpaid, "", "o", 5), by="out_trade_no"))["errcode"] == 10060001
    # A payment of another mini-program (bound to the same merchant) is unknown to this app's token.
    other_app = {"appid": "wxother0000000002", "secret": "s2", "mch_id": DEMO_MCH_ID}
    assert (await harness.client.post("/sim/v1/apps", json=other_app)).status_code == 201
    other = await harness.client.post(
        "/sim/v1/trades:seed",
        json={
            "appid": "wxother0000000002",
            "trades": [
                {"out_trade_no": "O" + secrets.token_hex(6), "amount_fen": 5, "openid": "o", "state": "SUCCESS"}
            ],
        },
    )
    theirs = other.json()["trades"][0]  # fmt: skip
    assert (await upload(harness, access, Paid(theirs["out_trade_no"], theirs["transaction_id"], "o", 5)))[
        "errcode"] == 10060001  # fmt: skip


async def test_payment_unknown_for_the_first_seconds(harness: SimHarness) -> None:
    await harness.client.put("/sim/v1/faults", json={"shipping_payment_delay_s": 30})
    access, paid = await token(harness), await pay_order(harness)
    assert (await upload(harness, access, paid))["errcode"] == 10060001
    assert (await order_api(harness, "get_order", {"transaction_id": paid.transaction_id}, access))[
        "errcode"] == 10060001  # fmt: skip
    await advance(harness, 31)
    assert (await upload(harness, access, paid))["errcode"] == 0


async def test_wrong_payer(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    answer = await upload(harness, access, paid, payer={"openid": "o-somebody-else"})
    assert answer["errcode"] == 10060031


async def refund_all(h: SimHarness, paid: Paid) -> None:
    await h.client.put("/sim/v1/faults", json={"refund_delay_s": 0})
    refund = await call(
        h.client,
        "/secapi/pay/refund",
        {
            "out_trade_no": paid.out_trade_no,
            "out_refund_no": "R" + secrets.token_hex(4),
            "total_fee": paid.amount_fen,
            "refund_fee": paid.amount_fen,
        },
    )
    assert refund["result_code"] == "SUCCESS", refund  # fmt: skip
    await advance(h, 1)


async def test_refunded_payment_is_state_5_and_not_shippable(harness: SimHarness) -> None:
    access, paid = await token(harness), await pay_order(harness)
    assert (await upload(harness, access, paid))["errcode"] == 0
    await refund_all(harness, paid)
    assert (await get_order(harness, access, paid))["order_state"] == 5
    changed = await upload(harness, access, paid, later=5, shipping_list=[parcel("YT2")])
    assert changed["errcode"] == 10060004
    fresh = await pay_order(harness, "bob")
    await refund_all(harness, fresh)
    assert (await upload(harness, access, fresh))["errcode"] == 10060004


async def test_confirmed_payment_is_not_shippable(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    assert (await upload(harness, access, paid))["errcode"] == 0
    confirmed = await harness.client.post("/sim/v1/confirm-receipt", json={"transaction_id": paid.transaction_id})
    assert confirmed.status_code == 200 and confirmed.json()["order_state"] == 4
    assert (await upload(harness, access, paid, later=5, shipping_list=[parcel("YT2")]))["errcode"] == 10060004


BAD_UPLOADS: list[tuple[str, dict[str, Any], int]] = [
    ("shipping_list as an object", {"shipping_list": parcel()}, 47001),
    ("order_number_type 3", {"order_key": {"order_number_type": 3, "transaction_id": "4200"}}, 47001),
    ("type 1 without out_trade_no", {"order_key": {"order_number_type": 1, "mchid": DEMO_MCH_ID}}, 47001),
    ("logistics_type as a string", {"logistics_type": "1"}, 47001),
    ("logistics_type 5", {"logistics_type": 5}, 10060005),
    ("delivery_mode 3", {"delivery_mode": 3}, 47001),
    ("split same-city", {"delivery_mode": 2, "logistics_type": 2, "is_all_delivered": True}, 10060006),
    ("split without is_all_delivered", {"delivery_mode": 2}, 10060007),
    ("is_all_delivered as a string", {"is_all_delivered": "true"}, 47001),
    ("no item_desc", {"shipping_list": [parcel(desc=" ")]}, 10060008),
    ("item_desc of 121 characters", {"shipping_list": [parcel(desc="货" * 121)]}, 10060009),
    ("express without tracking_no", {"shipping_list": [parcel(tracking_no="")]}, 268485226),
    ("express without company", {"shipping_list": [{"tracking_no": "YT1", "item_desc": "x"}]}, 268485227),
    ("tracking_no over 128 bytes", {"shipping_list": [parcel(tracking_no="Y" * 129)]}, 47001),
    ("SF without contact", {"shipping_list": [{**parcel(), "express_company": "SF"}]}, 40097),
    ("unmasked contact", {"shipping_list": [parcel(contact={"receiver_contact": "18912341234"})]}, 40097),
    ("unified with two parcels", {"shipping_list": [parcel("A1"), parcel("A2")]}, 40097),
    (
        "eleven parcels",
        {"delivery_mode": 2, "is_all_delivered": True, "shipping_list": [parcel(f"N{i}") for i in range(11)]},
        47001,
    ),
    ("no parcels", {"shipping_list": []}, 47001),
    ("upload_time without offset", {"upload_time": "2024-01-02T03:04:05"}, 47001),
    ("no payer", {"payer": {}}, 47001),
    ("entry not an object", {"shipping_list": ["YT1"]}, 47001),
]


@pytest.mark.parametrize(("case", "overrides", "errcode"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
async def test_field_validation(harness: SimHarness, case: str, overrides: dict[str, Any], errcode: int) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    answer = await upload(harness, access, paid, **overrides)
    assert answer["errcode"] == errcode, (case, answer)
    assert (await get_order(harness, access, paid))["order_state"] == 1  # nothing recorded


async def test_accepted_shapes(harness: SimHarness) -> None:
    access = await token(harness)
    virtual = await seed_paid(harness)  # virtual goods: no tracking number, no company
    assert (await upload(harness, access, virtual, logistics_type=3, shipping_list=[{"item_desc": "话费充值"}]))[
        "errcode"] == 0  # fmt: skip
    sf = await seed_paid(harness)
    masked = {**parcel(), "express_company": "SF", "contact": {"receiver_contact": "189****1234"}}
    assert (await upload(harness, access, sf, shipping_list=[masked]))["errcode"] == 0
    assert (await get_order(harness, access, sf))["shipping"]["shipping_list"][0]["contact"] == {
        "receiver_contact": "189****1234"}  # fmt: skip


async def test_unreadable_bodies(harness: SimHarness) -> None:
    access = await token(harness)
    for body in (b"not json", b"[1, 2]", b'{"a": 1, "a": 2}'):
        response = await harness.client.post("/wxa/sec/order/upload_shipping_info", params={"access_token": access},
                                             content=body)  # fmt: skip
        assert response.json()["errcode"] == 47001
    assert (await order_api(harness, "get_order", {}, access))["errcode"] == 47001
    assert (await order_api(harness, "get_order", {"merchant_id": DEMO_MCH_ID}, access))["errcode"] == 47001


# Lists, management, reminders to confirm ------------------------------------------------------


async def test_get_order_list_filters_and_pages(harness: SimHarness) -> None:
    access = await token(harness)
    start = await now(harness)
    alice = [await pay_order(harness, "alice") for _ in range(3)]
    await advance(harness, 100)
    bob = await pay_order(harness, "bob")
    assert (await upload(harness, access, alice[1]))["errcode"] == 0

    everything = await order_api(harness, "get_order_list", {}, access)
    listed = [o["transaction_id"] for o in everything["order_list"]]
    assert listed == [p.transaction_id for p in [*alice, bob]] and everything["has_more"] is False
    shipped = await order_api(harness, "get_order_list", {"order_state": 2}, access)
    assert [o["transaction_id"] for o in shipped["order_list"]] == [alice[1].transaction_id]
    bobs = await order_api(harness, "get_order_list", {"openid": bob.openid}, access)
    assert [o["transaction_id"] for o in bobs["order_list"]] == [bob.transaction_id]
    early = await order_api(
        harness, "get_order_list", {"pay_time_range": {"begin_time": int(start), "end_time": int(start) + 50}}, access
    )
    assert len(early["order_list"]) == 3  # fmt: skip

    page, seen = {"page_size": 3}, []
    first = await order_api(harness, "get_order_list", page, access)
    assert first["has_more"] is True and len(first["order_list"]) == 3
    seen += [o["transaction_id"] for o in first["order_list"]]
    second = await order_api(harness, "get_order_list", {**page, "last_index": first["last_index"]}, access)
    assert second["has_more"] is False
    seen += [o["transaction_id"] for o in second["order_list"]]
    assert seen == listed
    assert (await order_api(harness, "get_order_list", {"page_size": 101}, access))["errcode"] == 40097


async def test_is_trade_managed(harness: SimHarness) -> None:
    access = await token(harness)
    assert await order_api(harness, "is_trade_managed", {"appid": DEMO_APPID}, access) == {
        "errcode": 0, "errmsg": "ok", "is_trade_managed": True}  # fmt: skip
    off = await harness.client.put(f"/sim/v1/apps/{DEMO_APPID}/trade-managed", json={"managed": False})
    assert off.status_code == 200 and off.json()["trade_managed"] is False
    assert (await order_api(harness, "is_trade_managed", {"appid": DEMO_APPID}, access))["is_trade_managed"] is False
    assert (await order_api(harness, "is_trade_managed", {"appid": "wxnope"}, access))["errcode"] == 40013


async def test_notify_confirm_receive_once_for_shipped_express(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    ref = {"transaction_id": paid.transaction_id}
    t0 = await now(harness)
    assert (await order_api(harness, "notify_confirm_receive", {**ref, "received_time": int(t0)}, access))[
        "errcode"] == 40097  # not shipped yet  # fmt: skip
    assert (await upload(harness, access, paid))["errcode"] == 0
    await advance(harness, 3600)
    for bad in (int(t0) - 10, int(t0) + 7200):  # before shipping, in the future
        answer = await order_api(harness, "notify_confirm_receive", {**ref, "received_time": bad}, access)
        assert answer["errcode"] == 10060029
    ok = await order_api(harness, "notify_confirm_receive", {**ref, "received_time": int(t0) + 1800}, access)
    assert ok == {"errcode": 0, "errmsg": "ok"}
    again = await order_api(harness, "notify_confirm_receive", {**ref, "received_time": int(t0) + 1800}, access)
    assert again["errcode"] == 40097
    virtual = await seed_paid(harness)
    await upload(harness, access, virtual, logistics_type=3, shipping_list=[{"item_desc": "会员"}])
    not_express = await order_api(
        harness,
        "notify_confirm_receive",
        {"transaction_id": virtual.transaction_id, "received_time": int(t0) + 10},
        access,
    )
    assert not_express["errcode"] == 40097  # fmt: skip
    no_time = await order_api(harness, "notify_confirm_receive", ref, access)
    assert no_time["errcode"] == 47001


# Confirmation and settlement ------------------------------------------------------------------


async def test_buyer_confirms_then_it_settles(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    body = {"transaction_id": paid.transaction_id}
    early = await harness.client.post("/sim/v1/confirm-receipt", json=body)
    assert early.status_code == 409  # nothing shipped
    assert (await upload(harness, access, paid))["errcode"] == 0
    confirmed = await harness.client.post(
        "/sim/v1/confirm-receipt", json={"mch_id": DEMO_MCH_ID, "out_trade_no": paid.out_trade_no}
    )
    assert confirmed.status_code == 200 and confirmed.json()["order_state"] == 4  # fmt: skip
    assert (await harness.client.post("/sim/v1/confirm-receipt", json=body)).status_code == 409
    record = (await harness.client.get(f"/sim/v1/shipments/{paid.transaction_id}")).json()["shipment"]
    assert record["confirm_method"] == 2 and record["settled_at"] == record["confirmed_at"]
    unknown = await harness.client.post("/sim/v1/confirm-receipt", json={"transaction_id": "4200nope"})
    assert unknown.status_code == 404


async def test_auto_confirmation_after_the_period(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    assert (await upload(harness, access, paid))["errcode"] == 0
    await advance(harness, AUTO_CONFIRM_S - 60)
    assert (await get_order(harness, await token(harness), paid))["order_state"] == 2
    await advance(harness, 120)
    access = await token(harness)  # the first one expired on the way
    assert (await get_order(harness, access, paid))["order_state"] == 4
    record = (await harness.client.get(f"/sim/v1/shipments/{paid.transaction_id}")).json()["shipment"]
    assert record["confirm_method"] == 1
    assert record["confirmed_at"] == pytest.approx(record["finished_at"] + AUTO_CONFIRM_S)


async def test_settlement_delay_shows_state_3() -> None:
    async with sim_harness(SimConfig.single(time_scale=0.001, seed=sim_seed(), settlement_delay_s=3600)) as h:
        access, paid = await token(h), await seed_paid(h)
        assert (await upload(h, access, paid))["errcode"] == 0
        confirmed = await h.client.post("/sim/v1/confirm-receipt", json={"transaction_id": paid.transaction_id})
        assert confirmed.json()["order_state"] == 3
        listed = await order_api(h, "get_order_list", {"order_state": 3}, access)
        assert [o["transaction_id"] for o in listed["order_list"]] == [paid.transaction_id]
        await advance(h, 3601)
        assert (await get_order(h, await token(h), paid))["order_state"] == 4


# Faults -------------------------------------------------------------------------------------------


async def test_token_and_system_faults_have_no_effect(harness: SimHarness) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    await harness.client.put("/sim/v1/faults", json={"mp_token_error_rate": 1.0})
    assert (await upload(harness, access, paid))["errcode"] == 40001
    await harness.client.put("/sim/v1/faults", json={"shipping_error_rate": 1.0})
    assert (await upload(harness, access, paid))["errcode"] == -1
    await harness.client.delete("/sim/v1/faults")
    assert (await get_order(harness, access, paid))["order_state"] == 1
    assert (await upload(harness, access, paid))["errcode"] == 0


@pytest.mark.parametrize("after_effect", [False, True])
async def test_hang_before_or_after_the_effect(harness: SimHarness, after_effect: bool) -> None:
    access, paid = await token(harness), await seed_paid(harness)
    faults = {"shipping_hang_rate": 1.0, "shipping_hang_s": 0.5, "shipping_hang_after_effect": after_effect}
    await harness.client.put("/sim/v1/faults", json=faults)
    pending = asyncio.create_task(upload(harness, access, paid))

    async def landed() -> bool:
        record = (await harness.client.get(f"/sim/v1/shipments/{paid.transaction_id}")).json()["shipment"]
        return record is not None

    if after_effect:
        await eventually(landed, within_s=5)  # recorded while the caller still waits for an answer
        assert not pending.done()
    else:
        await eventually(lambda: harness.sim.injector.hanging == 1, within_s=5)  # hanging before doing anything
        assert not await landed() and not pending.done()
    assert (await pending)["errcode"] == 0
    assert await landed()


async def test_seeded_faults_repeat() -> None:
    runs = []
    for _ in range(2):
        async with sim_harness(SimConfig.single(seed=42)) as h:
            await h.client.put("/sim/v1/faults", json={"shipping_error_rate": 0.5})
            access = await token(h)
            runs.append([(await order_api(h, "is_trade_managed", {"appid": DEMO_APPID}, access)).get("errcode", 0)
                         for _ in range(20)])  # fmt: skip
    assert runs[0] == runs[1] and set(runs[0]) == {0, -1}
