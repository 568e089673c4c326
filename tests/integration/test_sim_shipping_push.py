"""The simulator's message pushes: when they are sent, how they are signed and encrypted, how they are
retried and dropped; each push read back with silverpay's own receiver checks (and wechatpy's)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from wechatpy.crypto import WeChatCrypto

from silverpay.errors import NotificationRejected
from silverpay.sim.config import AUTO_CONFIRM_S, DEMO_APPID, PushConfig, SimConfig
from silverpay.wechat.miniapp.push import (
    OrderSettlement,
    PushKeys,
    RemindAccessApi,
    RemindShipping,
    VerifiedPush,
    verify_push,
)
from tests.conftest import SimHarness
from tests.miniapp import (
    AES_KEY,
    PUSH_TOKEN,
    PUSH_URL,
    acknowledge_pushes,
    order_api,
    pay_order,
    pushes,
    seed_paid,
    set_push,
    sim_harness,
    token,
    upload_body,
)
from tests.sim_seed import sim_seed
from tests.waiting import eventually

PLAIN = PushKeys(PUSH_TOKEN, DEMO_APPID)
SAFE = PushKeys(PUSH_TOKEN, DEMO_APPID, AES_KEY)


async def advance(h: SimHarness, seconds: float) -> None:
    assert (await h.client.post("/sim/v1/clock", json={"advance_s": seconds})).status_code == 200


async def ship(h: SimHarness, paid: Any, **overrides: Any) -> None:
    at = float((await h.client.get("/sim/v1/clock")).json()["now"])
    answer = await order_api(h, "upload_shipping_info", upload_body(paid, at=at, **overrides), await token(h))
    assert answer["errcode"] == 0, answer


async def received(h: SimHarness, count: int, keys: PushKeys = PLAIN) -> list[VerifiedPush]:
    await eventually(lambda: len(pushes(h)) >= count, within_s=5)
    return [verify_push(keys, dict(r.url.params), r.content) for r in pushes(h)]


async def test_plain_json_push_when_shipping_completes(harness: SimHarness) -> None:
    await set_push(harness)
    acknowledge_pushes(harness)
    paid = await seed_paid(harness)
    await ship(harness, paid)
    [push] = await received(harness, 1)
    request = pushes(harness)[0]
    assert request.headers["content-type"] == "application/json"
    assert set(request.url.params) == {"signature", "timestamp", "nonce"}
    assert push.encrypted is False
    event = push.event
    assert isinstance(event, OrderSettlement)
    assert event.transaction_id == paid.transaction_id and event.out_trade_no == paid.out_trade_no
    assert event.shipped_at is not None and event.settled is False and event.confirmed_at is None
    assert event.estimated_settlement_at == pytest.approx(event.shipped_at + AUTO_CONFIRM_S, abs=1)
    assert event.header.to_user.startswith("gh_") and event.header.created_at is not None
    body = json.loads(request.content)
    assert body["Event"] == "trade_manage_order_settlement" and body["MsgType"] == "event"
    assert "settlement_time" not in body  # empty on the shipping push, as integrators see it


async def test_safe_xml_push_reads_with_ours_and_with_wechatpy(harness: SimHarness) -> None:
    await set_push(harness, mode="safe", fmt="xml")
    acknowledge_pushes(harness)
    paid = await seed_paid(harness)
    await ship(harness, paid)
    [push] = await received(harness, 1, SAFE)
    assert push.encrypted and isinstance(push.event, OrderSettlement)
    request = pushes(harness)[0]
    params = request.url.params
    assert params["encrypt_type"] == "aes" and request.headers["content-type"].startswith("text/xml")
    assert b"transaction_id" not in request.content  # only ToUserName and Encrypt travel in the clear
    plain = WeChatCrypto(PUSH_TOKEN, AES_KEY, DEMO_APPID).decrypt_message(
        request.content, params["msg_signature"], params["timestamp"], params["nonce"]
    )
    assert f"<transaction_id><![CDATA[{paid.transaction_id}]]></transaction_id>" in plain
    with pytest.raises(NotificationRejected) as refused:
        verify_push(SAFE, {**params, "msg_signature": "0" * 40}, request.content)
    assert refused.value.code == "SIGNATURE_INVALID"


async def test_settlement_is_pushed_after_the_buyer_confirms(harness: SimHarness) -> None:
    await set_push(harness, mode="safe", fmt="json")
    acknowledge_pushes(harness)
    paid = await seed_paid(harness)
    await ship(harness, paid)
    confirmed = await harness.client.post("/sim/v1/confirm-receipt", json={"transaction_id": paid.transaction_id})
    assert confirmed.status_code == 200
    shipped, settled = (p.event for p in await received(harness, 2, SAFE))
    assert isinstance(shipped, OrderSettlement) and not shipped.settled
    assert isinstance(settled, OrderSettlement) and settled.settled and settled.confirm_method == 2
    assert settled.confirmed_at is not None and settled.shipped_at == shipped.shipped_at


async def test_settlement_is_pushed_after_automatic_confirmation(harness: SimHarness) -> None:
    await set_push(harness)
    acknowledge_pushes(harness)
    paid = await seed_paid(harness)
    await ship(harness, paid)
    await advance(harness, AUTO_CONFIRM_S + 1)
    settled = (await received(harness, 2))[1].event
    assert isinstance(settled, OrderSettlement) and settled.confirm_method == 1
    assert settled.settled_at == pytest.approx((settled.shipped_at or 0) + AUTO_CONFIRM_S, abs=1)


async def test_reminders(harness: SimHarness) -> None:
    await set_push(harness)
    acknowledge_pushes(harness)
    first = await pay_order(harness)  # the app's first trade, never shipped: remind_access_api
    [access_api] = await received(harness, 1)
    assert isinstance(access_api.event, RemindAccessApi) and access_api.event.message
    await ship(harness, first)
    second = await pay_order(harness, "bob")
    seeded = await seed_paid(harness)  # seeded trades are never reminded
    await advance(harness, 47 * 3600)
    await eventually(lambda: len(pushes(harness)) >= 2, within_s=5)  # the shipping push of the first
    await advance(harness, 3601)
    events = [p.event for p in await received(harness, 3)]
    remind = events[2]
    assert isinstance(remind, RemindShipping) and remind.transaction_id == second.transaction_id
    assert remind.paid_at is not None and remind.message
    await advance(harness, 86400)
    assert len(pushes(harness)) == 3  # once, and nothing about the shipped or the seeded payment
    assert seeded.transaction_id not in {getattr(e, "transaction_id", "") for e in events}


async def attempts(h: SimHarness) -> list[dict[str, Any]]:
    return [a for a in (await h.client.get("/sim/v1/notifications")).json() if a["kind"] == "mp_push"]


@pytest.mark.parametrize(("status", "body", "tries"), [(200, b"success", 1), (200, b"", 1), (200, b"ok", 4),
                                                       (500, b"success", 4)])  # fmt: skip
async def test_acknowledgement_and_retries(harness: SimHarness, status: int, body: bytes, tries: int) -> None:
    await set_push(harness)
    acknowledge_pushes(harness, body, status)
    await ship(harness, await seed_paid(harness))
    await eventually(lambda: len(pushes(harness)) >= tries, within_s=5)

    async def finished() -> bool:
        return all(d.next_at is None for d in harness.sim.state.deliveries.values())

    await eventually(finished, within_s=5)
    seen = await attempts(harness)
    assert [a["attempt"] for a in seen] == list(range(1, tries + 1))
    assert seen[-1]["acknowledged"] is (tries == 1)
    assert len(pushes(harness)) == tries


async def test_dropped_pushes_and_no_push_url(harness: SimHarness) -> None:
    acknowledge_pushes(harness)
    await ship(harness, await seed_paid(harness))  # no push URL configured: nothing at all
    assert await attempts(harness) == [] and pushes(harness) == []
    await set_push(harness)
    await harness.client.put("/sim/v1/faults", json={"push_drop_rate": 1.0})
    await ship(harness, await seed_paid(harness))
    [dropped] = await attempts(harness)
    assert dropped["attempt"] == 0 and dropped["error"] == "dropped by fault injection"
    assert pushes(harness) == []
    await harness.client.delete("/sim/v1/faults")
    assert (await harness.client.delete(f"/sim/v1/apps/{DEMO_APPID}/push")).json()["push_url"] == ""
    await ship(harness, await seed_paid(harness))
    assert len(await attempts(harness)) == 1


async def test_push_settings_are_validated_and_never_shown(harness: SimHarness) -> None:
    url = f"/sim/v1/apps/{DEMO_APPID}/push"
    base = {"url": PUSH_URL, "token": PUSH_TOKEN}
    assert (await harness.client.put(url, json={**base, "mode": "safe"})).status_code == 400
    assert (await harness.client.put(url, json={**base, "mode": "safe", "aes_key": AES_KEY[:-1]})).status_code == 400
    assert (await harness.client.put(url, json={**base, "url": "ftp://x/y"})).status_code == 400
    assert (await harness.client.put("/sim/v1/apps/wxnope/push", json=base)).status_code == 404
    ok = await harness.client.put(url, json={**base, "mode": "safe", "aes_key": AES_KEY, "format": "xml"})
    assert ok.status_code == 200
    shown = (await harness.client.get(url)).text
    assert AES_KEY not in shown and PUSH_TOKEN not in shown and '"has_aes_key":true' in shown


async def test_push_settings_from_the_command_line_and_a_state_file(tmp_path: Any) -> None:
    """Push settings given at start (what `silverpay sim --push-url …` sets) configure the default
    app; the state file keeps shipments, tokens, settings and timers across a restart."""
    state = str(tmp_path / "sim.sqlite")
    push = PushConfig(PUSH_URL, PUSH_TOKEN, AES_KEY, mode="safe", format="xml")
    config = SimConfig.single(time_scale=0.001, seed=sim_seed(), state_path=state, push=push)
    async with sim_harness(config) as h:
        acknowledge_pushes(h)
        paid = await pay_order(h)
        access = await token(h)
        await ship(h, paid)
        await received(h, 2, SAFE)  # remind_access_api, then the shipping push
    async with sim_harness(SimConfig.single(time_scale=0.001, seed=sim_seed(), state_path=state)) as h:
        acknowledge_pushes(h)
        order = await order_api(h, "get_order", {"transaction_id": paid.transaction_id}, access)
        assert order["order"]["order_state"] == 2  # the shipment and the token survived
        assert (await h.client.get(f"/sim/v1/apps/{DEMO_APPID}/push")).json()["push_mode"] == "safe"
        await advance(h, AUTO_CONFIRM_S + 1)  # the auto-confirm timer was rebuilt from the record
        [settled] = await received(h, 1, SAFE)
        assert isinstance(settled.event, OrderSettlement) and settled.event.settled


def test_acknowledge_helper_leaves_other_urls_alone() -> None:
    from tests.conftest import FakeMerchant

    merchant = FakeMerchant()
    h = SimHarness(None, None, merchant)  # type: ignore[arg-type]
    acknowledge_pushes(h)
    assert merchant.reply(httpx.Request("POST", PUSH_URL)).content == b"success"
    assert b"SUCCESS" in merchant.reply(httpx.Request("POST", "http://merchant.test/notify")).content
