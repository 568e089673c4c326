"""Payment notifications: body, signature, acknowledgement rules, retry schedule, faults."""

import itertools
from typing import Any

import httpx
import pytest

from silverpay.sim.config import DEMO_API_KEY, NOTIFY_RETRY_DELAYS_S
from silverpay.wechat.v2 import signing
from silverpay.wechat.v2.signing import SignType
from tests.conftest import SUCCESS_REPLY, SimHarness
from tests.integration.test_sim_pay import new_trade_no, pay
from tests.sheet import payment_sheet
from tests.v2wire import call, order_params
from tests.waiting import eventually


async def paid_order(h: SimHarness, sign_type: SignType = SignType.MD5) -> tuple[str, dict[str, Any]]:
    user = await h.login()
    out_trade_no = new_trade_no()
    extra = {"sign_type": sign_type.value} if sign_type is SignType.HMAC_SHA256 else {}
    order = await call(
        h.client,
        "/pay/unifiedorder",
        order_params(out_trade_no, user["openid"], **extra),
        sign_type=sign_type,
    )
    status, body = await pay(h, order["prepay_id"], user["openid"], sign_type=sign_type)
    assert status == 200
    return out_trade_no, body


async def attempts(h: SimHarness, out_trade_no: str) -> list[dict[str, Any]]:
    response = await h.client.get("/sim/v1/notifications", params={"out_trade_no": out_trade_no})
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("sign_type", list(SignType))
async def test_notification_is_signed_and_acknowledged_once(harness: SimHarness, sign_type: SignType) -> None:
    out_trade_no, paid = await paid_order(harness, sign_type)
    await eventually(lambda: len(harness.merchant.received) == 1)
    note = harness.merchant.received[0]
    assert signing.verify(note, DEMO_API_KEY) is sign_type
    assert note.get("sign_type", "MD5") == sign_type.value
    assert note["out_trade_no"] == out_trade_no
    assert note["transaction_id"] == paid["transaction_id"]
    assert (note["total_fee"], note["cash_fee"], note["result_code"]) == ("101", "101", "SUCCESS")
    log = await attempts(harness, out_trade_no)
    assert [(a["attempt"], a["http_status"], a["acknowledged"]) for a in log] == [(1, 200, True)]
    assert log[0]["response_body"] == SUCCESS_REPLY


@pytest.mark.parametrize(
    "bad_reply",
    [
        httpx.Response(200, text="success"),
        httpx.Response(200, text="SUCCESS"),
        httpx.Response(200, json={"return_code": "SUCCESS"}),
        httpx.Response(200, text="<html><body>SUCCESS</body></html>"),
        httpx.Response(200, text=""),
        httpx.Response(200, text="<xml><return_code>FAIL</return_code></xml>"),
        httpx.Response(500, text=SUCCESS_REPLY),
    ],
)
async def test_only_the_exact_reply_counts(harness: SimHarness, bad_reply: httpx.Response) -> None:
    harness.merchant.reply = lambda _: bad_reply
    out_trade_no, _ = await paid_order(harness)
    await eventually(lambda: len(harness.merchant.received) >= 3)  # 15 ms + 15 ms at time_scale 0.001
    harness.merchant.reply = lambda _: httpx.Response(200, text=SUCCESS_REPLY)
    await eventually(lambda: any(a.acknowledged for a in harness.sim.state.attempts))
    log = await attempts(harness, out_trade_no)
    assert [a["acknowledged"] for a in log][-1] is True
    assert not any(a["acknowledged"] for a in log[:-1])
    (delivery,) = harness.sim.state.deliveries.values()
    assert delivery.next_at is None  # finished: the notifier has nothing more to send of it
    count = len(harness.merchant.received)
    await harness.client.post("/sim/v1/clock", json={"advance_s": 86400})
    assert len(harness.merchant.received) == count  # nothing after the acknowledgement


async def test_retry_schedule_under_scaled_clock(harness: SimHarness) -> None:
    scale = harness.sim.config.time_scale
    harness.merchant.reply = lambda _: httpx.Response(503)
    out_trade_no, _ = await paid_order(harness)
    await eventually(lambda: len(harness.merchant.received) >= 6, within_s=20)
    log = await attempts(harness, out_trade_no)
    times = [a["at"] for a in log]
    for i, (before, after) in enumerate(itertools.pairwise(times[:6])):
        gap = after - before
        assert gap >= NOTIFY_RETRY_DELAYS_S[i] * scale, (i, gap)
        assert gap < NOTIFY_RETRY_DELAYS_S[i] * scale + 2.0, (i, gap)  # not stuck, not skipped
    # Move the simulated clock over the rest of the 24 h 4 min schedule: 16 attempts, then silence.
    while (sent := len(harness.merchant.received)) < 16:
        await harness.client.post("/sim/v1/clock", json={"advance_s": 30})  # > any scaled delay
        await eventually(lambda: len(harness.merchant.received) > sent)
    (delivery,) = harness.sim.state.deliveries.values()
    assert delivery.next_at is None and not delivery.acknowledged  # the schedule is over: given up
    await harness.client.post("/sim/v1/clock", json={"advance_s": 7 * 86400})
    log = await attempts(harness, out_trade_no)
    assert [a["attempt"] for a in log] == list(range(1, 17))
    assert len(NOTIFY_RETRY_DELAYS_S) == 15 and sum(NOTIFY_RETRY_DELAYS_S) == 86640


async def test_drop_fault(harness: SimHarness) -> None:
    await harness.client.put("/sim/v1/faults", json={"notify_drop_rate": 1.0})
    out_trade_no, _ = await paid_order(harness)
    await harness.client.post("/sim/v1/clock", json={"advance_s": 2 * 86400})
    log = await attempts(harness, out_trade_no)
    assert len(log) == 1 and log[0]["attempt"] == 0 and log[0]["error"] == "dropped by fault injection"
    (delivery,) = harness.sim.state.deliveries.values()
    assert delivery.dropped and delivery.next_at is None  # never to be sent
    assert harness.merchant.received == []


async def test_duplicate_fault_sends_every_attempt_twice(harness: SimHarness) -> None:
    await harness.client.put("/sim/v1/faults", json={"notify_duplicate_rate": 1.0})
    out_trade_no, _ = await paid_order(harness)
    await eventually(lambda: len(harness.merchant.received) == 2)
    first, second = harness.merchant.received
    assert first == second
    log = await attempts(harness, out_trade_no)
    assert sorted(a["duplicate"] for a in log) == [False, True]


async def test_delay_fault(harness: SimHarness) -> None:
    await harness.client.put("/sim/v1/faults", json={"notify_delay_s": 600})
    await paid_order(harness)
    await harness.client.post("/sim/v1/clock", json={"advance_s": 0})
    (delivery,) = harness.sim.state.deliveries.values()
    assert delivery.attempts == 0 and delivery.next_at is not None
    assert delivery.next_at - harness.sim.clock.now() > 590  # due in 600 simulated seconds, not now
    assert harness.merchant.received == []
    await harness.client.post("/sim/v1/clock", json={"advance_s": 600})
    await eventually(lambda: len(harness.merchant.received) == 1)


async def test_unreachable_merchant_is_recorded(harness: SimHarness) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    harness.merchant.reply = refuse
    out_trade_no, _ = await paid_order(harness)
    await eventually(lambda: len(harness.sim.state.attempts) >= 2)
    log = await attempts(harness, out_trade_no)
    assert log[0]["http_status"] is None and log[0]["error"].startswith("ConnectError")


async def test_paid_sheet_payload_used_by_tests_is_valid() -> None:
    sheet = payment_sheet("wx1", "o1", sign_type=SignType.HMAC_SHA256)
    assert len(sheet["paySign"]) == 64
