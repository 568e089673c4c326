"""Pay, confirm, cancel and the notify endpoint, per backend."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from silverpay.service import payments
from silverpay.service.context import ServiceContext
from silverpay.store.models import PaymentAttempt, RejectedNotification
from silverpay.wechat.v2 import xml
from silverpay.wechat.v2.signing import SignType
from tests.notify_bodies import BILLION_LAUGHS, SUCCESS_REPLY, XXE, notification
from tests.service_harness import Harness, Shopper
from tests.waiting import eventually


async def status(svc: Harness, shopper: Shopper, order_id: int) -> str:
    return str((await svc.get(shopper, order_id))["status"])


async def events(svc: Harness, order_id: int, kind: str) -> list[dict[str, Any]]:
    return [e for e in (await svc.admin_order(order_id))["events"] if e["kind"] == kind]


async def notify(svc: Harness, body: bytes) -> tuple[int, dict[str, str]]:
    response = await svc.api.post("/api/v1/wechat/notify", content=body, headers={"Content-Type": "text/xml"})
    return response.status_code, xml.decode(response.content)


# pay ---------------------------------------------------------------------------------------------


async def test_pay_reuses_a_valid_prepay(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    first = await svc.pay_params(alice, order["id"])
    second = await svc.pay_params(alice, order["id"])
    assert first["package"] == second["package"]
    assert first["nonceStr"] != second["nonceStr"]  # freshly signed each time
    assert len(await events(svc, order["id"], "wechat.prepay")) == 1  # WeChat was asked once
    assert (await svc.wechat_pay(alice, second)).status_code == 200


async def test_pay_renews_an_expired_prepay_for_the_same_trade(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    first = await svc.pay_params(alice, order["id"])
    await svc.advance(2 * 3600 + 1)
    second = await svc.pay_params(alice, order["id"])
    assert first["package"] != second["package"]
    assert (await svc.wechat_pay(alice, first)).status_code == 409  # the old prepay is dead at WeChat
    assert (await svc.wechat_pay(alice, second)).status_code == 200


async def test_pay_when_wechat_says_orderpaid_settles_instead_of_failing(svc: Harness) -> None:
    alice = await svc.shopper()
    await svc.faults(notify_drop_rate=1.0)
    order = await svc.paid_order(alice)
    assert await status(svc, alice, order["id"]) == "PAYING"  # the notification was lost
    svc.clock.offset += 2 * 3600  # our stored prepay looks stale: the service asks unifiedorder again
    response = await svc.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ORDER_ALREADY_PAID"
    assert await status(svc, alice, order["id"]) == "PAID"


async def test_pay_refuses_settled_and_expired_orders(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.paid_order(alice)
    await eventually(lambda: _is(svc, alice, order["id"], "PAID"))
    response = await svc.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ORDER_ALREADY_PAID"
    late = await svc.order(alice)
    svc.clock.offset += svc.settings.order_ttl_s
    response = await svc.api.post(f"/api/v1/orders/{late['id']}/pay", headers=alice.auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ORDER_EXPIRED"


async def test_pay_upstream_failure_is_503_and_recorded(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    await svc.faults(api_error_rate=1.0)
    response = await svc.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert response.status_code == 503 and response.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert await status(svc, alice, order["id"]) == "CREATED"
    assert (await events(svc, order["id"], "wechat.prepay"))[0]["detail"]["outcome"] == "error"
    await svc.faults()
    assert (await svc.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)).status_code == 200


async def _is(svc: Harness, shopper: Shopper, order_id: int, expected: str) -> bool:
    return await status(svc, shopper, order_id) == expected


# confirm -----------------------------------------------------------------------------------------


async def test_confirm_settles_when_every_notification_is_dropped(svc: Harness) -> None:
    alice = await svc.shopper()
    await svc.faults(notify_drop_rate=1.0)
    order = await svc.paid_order(alice)
    assert await status(svc, alice, order["id"]) == "PAYING"
    confirmed = await svc.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=alice.auth)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "PAID"
    query = await events(svc, order["id"], "wechat.query")
    assert query[-1]["detail"]["outcome"] == "settled" and query[-1]["detail"]["source"] == "confirm"


async def test_confirm_does_not_trust_the_client(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    await svc.pay_params(alice, order["id"])  # requestPayment never happens
    confirmed = await svc.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=alice.auth)
    assert confirmed.json()["status"] == "PAYING"
    assert (await events(svc, order["id"], "wechat.query"))[-1]["detail"]["trade_state"] == "NOTPAY"


# cancel ------------------------------------------------------------------------------------------


async def test_cancel_before_pay_closes_locally(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    cancelled = await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert cancelled.json()["status"] == "CLOSED"
    response = await svc.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ORDER_CLOSED"
    again = await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert again.status_code == 200 and again.json()["status"] == "CLOSED"


async def test_early_cancel_closes_at_once_and_at_wechat_when_allowed(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    params = await svc.pay_params(alice, order["id"])
    early = await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert early.status_code == 200 and early.json()["status"] == "CLOSED"  # at once, in the first 5 minutes
    refused = await svc.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "ORDER_CLOSED"
    trade = f"/sim/v1/trades/{order['out_trade_no']}"
    await svc.worker().run_once()
    assert (await svc.wx.get(trade)).json()["trade_state"] == "NOTPAY"  # WeChat would ignore a close yet
    await svc.advance(5 * 60)
    await svc.worker().run_once()
    assert (await svc.wx.get(trade)).json()["trade_state"] == "CLOSED"  # so the old sheet can no longer pay
    assert (await svc.wechat_pay(alice, params)).status_code == 409
    closes = [e["detail"]["outcome"] for e in await events(svc, order["id"], "wechat.close")]
    assert closes == ["scheduled", "closed"]


async def test_a_payment_after_cancelling_is_refunded_automatically(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice, price_fen=1500)
    params = await svc.pay_params(alice, order["id"])
    assert (await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)).json()["status"] == "CLOSED"
    assert (await svc.wechat_pay(alice, params)).status_code == 200  # the sheet was still open

    async def refunded() -> bool:
        await svc.worker().run_once()  # submits the refund, then follows it up
        await svc.advance(2)
        refunds = (await svc.admin_order(order["id"]))["refunds"]
        return [(r["surplus"], r["status"], r["amount_fen"]) for r in refunds] == [(True, "SUCCESS", 1500)]

    await eventually(refunded)
    view = await svc.admin_order(order["id"])
    assert view["status"] == "CLOSED" and not view["needs_review"]  # returned, nothing for an operator
    surplus = await events(svc, order["id"], "refund.surplus")
    assert [e["detail"]["out_trade_no"] for e in surplus] == [order["out_trade_no"]]
    assert (await svc.wx.get(f"/sim/v1/trades/{order['out_trade_no']}")).json()["trade_state"] == "REFUND"
    assert (await svc.refund(order["id"], 1)).status_code == 409  # a closed order has nothing to refund


@pytest.mark.parametrize("wait_s", [0, 5 * 60])
async def test_cancel_of_an_order_paid_at_wechat_makes_it_paid(svc: Harness, wait_s: int) -> None:
    alice = await svc.shopper()
    await svc.faults(notify_drop_rate=1.0)
    order = await svc.paid_order(alice)
    await svc.advance(wait_s)
    response = await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert response.status_code == 200 and response.json()["status"] == "PAID"
    response = await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "ORDER_ALREADY_PAID"


# notify ------------------------------------------------------------------------------------------


async def paying_order(svc: Harness) -> tuple[Shopper, dict[str, Any]]:
    alice = await svc.shopper()
    order = await svc.order(alice, price_fen=2500)
    await svc.pay_params(alice, order["id"])
    return alice, order


@pytest.mark.parametrize("sign_type", list(SignType))
async def test_genuine_notification_settles_once(svc: Harness, sign_type: SignType) -> None:
    alice, order = await paying_order(svc)
    body = notification(order["out_trade_no"], 2500, sign_type=sign_type)
    response = await svc.api.post("/api/v1/wechat/notify", content=body)
    assert response.status_code == 200 and response.content == SUCCESS_REPLY  # byte-exact
    assert await status(svc, alice, order["id"]) == "PAID"
    assert (await notify(svc, body)) == (200, {"return_code": "SUCCESS", "return_msg": "OK"})  # duplicate
    notified = await events(svc, order["id"], "wechat.notify")
    assert [e["detail"]["outcome"] for e in notified] == ["settled", "duplicate"]
    # The algorithm that verified it is on record (MD5 when the notification declares none).
    assert [e["detail"]["sign_type"] for e in notified] == [sign_type.value] * 2
    assert [e["detail"]["to"] for e in await events(svc, order["id"], "status")].count("PAID") == 1


REJECTED = [
    (lambda no: notification(no, 2500, key="0" * 32), "SIGNATURE_INVALID"),
    (lambda no: notification(no, 2500, appid="wx0000000000000000"), "APPID_MISMATCH"),
    (lambda no: notification(no, 2500, mch_id="1000000000"), "MCH_ID_MISMATCH"),
    # declares HMAC-SHA256 but was signed with MD5: verified with the declared algorithm, it fails
    (lambda no: notification(no, 2500, declared_sign_type="HMAC-SHA256"), "SIGNATURE_INVALID"),
]


async def test_rejected_notifications_change_nothing(svc: Harness) -> None:
    for make, code in REJECTED:
        alice, order = await paying_order(svc)
        status_code, reply = await notify(svc, make(order["out_trade_no"]))
        assert status_code == 400 and reply["return_code"] == "FAIL", code
        assert await status(svc, alice, order["id"]) == "PAYING"
        assert await events(svc, order["id"], "wechat.notify") == []  # not on the order: anyone can name one
        rejected = (await svc.admin_order(order["id"]))["rejected_notifications"]
        assert [(r["code"], r["count"], r["endpoint"]) for r in rejected] == [(code, 1, "wechat.notify")]


async def test_a_flood_of_forged_notifications_is_counted_not_stored_one_by_one(svc: Harness) -> None:
    alice, order = await paying_order(svc)
    forged = [notification(f"SP{uuid.uuid4().hex[:20]}", 2500, key="0" * 32) for _ in range(40)]
    forged += [notification(order["out_trade_no"], 2500, key="0" * 32) for _ in range(10)]
    replies = await asyncio.gather(*(svc.api.post("/api/v1/wechat/notify", content=body) for body in forged))
    assert {r.status_code for r in replies} == {400}
    async with context(svc).sessions() as db:
        rows = (await db.execute(select(RejectedNotification.claimed, RejectedNotification.count))).all()
    by_claim: dict[str, int] = {}
    for claimed, count in rows:
        by_claim[claimed] = by_claim.get(claimed, 0) + count
    # Made-up numbers share rows (one a minute), the order's own number keeps its count.
    assert by_claim.get(order["out_trade_no"]) == 10 and by_claim.get("") == 40
    assert len(rows) <= 4  # at most two minutes crossed, two kinds of claim
    assert await status(svc, alice, order["id"]) == "PAYING"


async def test_tampered_amount_after_signing_is_rejected(svc: Harness) -> None:
    alice, order = await paying_order(svc)
    body = notification(order["out_trade_no"], 2500).replace(
        b"<total_fee>2500</total_fee>", b"<total_fee>1</total_fee>"
    )
    status_code, reply = await notify(svc, body)
    assert (status_code, reply["return_code"]) == (400, "FAIL")
    assert await status(svc, alice, order["id"]) == "PAYING"


async def test_signed_wrong_amount_is_flagged_never_paid_and_acknowledged(svc: Harness) -> None:
    alice, order = await paying_order(svc)
    status_code, reply = await notify(svc, notification(order["out_trade_no"], 1))
    assert (status_code, reply["return_code"]) == (200, "SUCCESS")  # stop WeChat retrying: an operator must act
    assert await status(svc, alice, order["id"]) == "PAYING"
    view = await svc.admin_order(order["id"])
    assert view["needs_review"] is True and "amount mismatch" in view["review_reason"]
    assert (await events(svc, order["id"], "wechat.notify"))[-1]["detail"]["outcome"] == "flagged"


async def test_hostile_bodies_are_refused(svc: Harness) -> None:
    for body in (XXE, BILLION_LAUGHS, b"<xml><a>" + b"x" * 70_000 + b"</a></xml>", b"", b"ok"):
        status_code, reply = await notify(svc, body)
        assert (status_code, reply["return_code"]) == (400, "FAIL"), body[:40]


async def test_unknown_order_is_refused(svc: Harness) -> None:
    status_code, reply = await notify(svc, notification("SPNOSUCHORDER000000000000000", 100))
    assert (status_code, reply["return_code"]) == (400, "FAIL")


async def test_payment_for_a_closed_order_is_refunded_not_applied(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice, price_fen=2500)
    await svc.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    for _ in range(2):  # WeChat's retry: still one refund
        status_code, reply = await notify(svc, notification(order["out_trade_no"], 2500))
        assert (status_code, reply["return_code"]) == (200, "SUCCESS")
    assert await status(svc, alice, order["id"]) == "CLOSED"  # terminal states are never overwritten
    view = await svc.admin_order(order["id"])
    assert not view["needs_review"]
    assert [(r["surplus"], r["out_trade_no"], r["amount_fen"]) for r in view["refunds"]] == [
        (True, order["out_trade_no"], 2500)
    ]


async def test_a_second_transaction_for_a_paid_order_is_flagged(svc: Harness) -> None:
    _, order = await paying_order(svc)
    await notify(svc, notification(order["out_trade_no"], 2500, transaction_id="4200000000000000000000000001"))
    await notify(svc, notification(order["out_trade_no"], 2500, transaction_id="4200000000000000000000000002"))
    view = await svc.admin_order(order["id"])
    assert view["status"] == "PAID" and view["transaction_id"] == "4200000000000000000000000001"
    assert view["needs_review"] and "second transaction" in view["review_reason"]


# concurrency -------------------------------------------------------------------------------------


async def test_concurrent_notifications_and_confirms_settle_exactly_once(svc: Harness) -> None:
    alice = await svc.shopper()
    await svc.faults(notify_drop_rate=1.0)
    order = await svc.paid_order(alice, price_fen=2500)  # paid at WeChat, unknown here
    trade = (await svc.wx.get(f"/sim/v1/trades/{order['out_trade_no']}")).json()
    body = notification(order["out_trade_no"], 2500, transaction_id=trade["transaction_id"])
    calls = [svc.api.post("/api/v1/wechat/notify", content=body) for _ in range(12)]
    calls += [svc.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=alice.auth) for _ in range(6)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert all(r.content == SUCCESS_REPLY for r in responses[:12])
    assert all(r.json()["status"] == "PAID" for r in responses[12:])
    transitions = [e for e in await events(svc, order["id"], "status") if e["detail"]["to"] == "PAID"]
    assert len(transitions) == 1
    view = await svc.admin_order(order["id"])
    assert view["needs_review"] is False and view["transaction_id"] == trade["transaction_id"]


# payment attempts -------------------------------------------------------------------------------


def context(svc: Harness) -> ServiceContext:
    ctx: ServiceContext = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    return ctx


async def attempts(svc: Harness, order_id: int) -> list[tuple[str, bool, bool]]:
    """(out_trade_no, close scheduled, closed at WeChat) of every number the order used, oldest first."""
    async with context(svc).sessions() as db:
        rows = (await db.execute(select(PaymentAttempt).where(PaymentAttempt.order_id == order_id)
                                 .order_by(PaymentAttempt.id))).scalars()  # fmt: skip
        return [(a.out_trade_no, a.close_at is not None, a.closed_at is not None) for a in rows]


async def reprepaid_elsewhere(svc: Harness) -> tuple[Shopper, dict[str, Any], dict[str, str], Any]:
    """An order prepaid by this process, then paid for through a process whose NOTIFY_URL differs
    (a mis-deployment): WeChat answers OUT_TRADE_NO_USED to the second, which moves to a new number."""
    alice = await svc.shopper()
    order = await svc.order(alice, price_fen=1200)
    first = await svc.pay_params(alice, order["id"])
    await svc.advance(111 * 60)  # the stored prepay is too close to its 2 hours to hand out again
    elsewhere = context(svc).notify_url.replace("service.test", "service.test:80")  # same place, other text
    other = dataclasses.replace(context(svc), notify_url=elsewhere)
    second = await payments.pay(other, alice.user_id, order["id"])
    assert second.package != first["package"]
    return alice, order, first, second


async def test_out_trade_no_used_moves_the_order_to_a_new_number(svc: Harness) -> None:
    alice, order, _, second = await reprepaid_elsewhere(svc)
    moved = await svc.get(alice, order["id"])
    assert moved["status"] == "PAYING" and moved["out_trade_no"] != order["out_trade_no"]
    assert await attempts(svc, order["id"]) == [
        (order["out_trade_no"], True, False),
        (moved["out_trade_no"], False, False),
    ]
    assert (await svc.wechat_pay(alice, vars(second))).status_code == 200

    async def paid() -> bool:
        return await status(svc, alice, order["id"]) == "PAID"

    await eventually(paid)  # the new number's notification settles the order
    replaced = await events(svc, order["id"], "payment.attempt")
    assert [e["detail"]["replaces"] for e in replaced] == [order["out_trade_no"]]


async def test_a_second_paid_attempt_is_refunded_and_the_old_number_closed(svc: Harness) -> None:
    alice, order, first, second = await reprepaid_elsewhere(svc)
    assert (await svc.wechat_pay(alice, vars(second))).status_code == 200
    assert (await svc.wechat_pay(alice, first)).status_code == 200  # the first sheet, still open, pays too

    async def settled() -> bool:
        await svc.worker().run_once()
        await svc.advance(2)
        view = await svc.admin_order(order["id"])
        return view["status"] == "PAID" and [(r["surplus"], r["status"]) for r in view["refunds"]] == [
            (True, "SUCCESS")
        ]

    await eventually(settled)
    view = await svc.admin_order(order["id"])
    numbers = [number for number, _, _ in await attempts(svc, order["id"])]
    refunded = [r["out_trade_no"] for r in view["refunds"]]
    # Whichever payment arrived first settled the order; the other one is returned.
    assert sorted([view["out_trade_no"], *refunded]) == sorted(numbers)
    assert [e["detail"]["to"] for e in view["events"] if e["kind"] == "status"].count("PAID") == 1
    await svc.advance(5 * 60)
    await svc.worker().run_once()
    closed = {number: (scheduled, done) for number, scheduled, done in await attempts(svc, order["id"])}
    assert closed.pop(refunded[0]) == (True, True)  # the number whose payment was returned: closed at WeChat
    assert closed[view["out_trade_no"]][1] is False  # the paying number is never closed


async def test_an_earlier_attempt_paid_first_settles_the_order_and_the_newer_is_closed(svc: Harness) -> None:
    alice, order, first, _ = await reprepaid_elsewhere(svc)
    assert (await svc.wechat_pay(alice, first)).status_code == 200  # only the first sheet is paid

    async def paid() -> bool:
        return await status(svc, alice, order["id"]) == "PAID"

    await eventually(paid)
    view = await svc.admin_order(order["id"])
    assert view["out_trade_no"] == order["out_trade_no"] and view["refunds"] == []  # its number again
    newer = (await attempts(svc, order["id"]))[1][0]
    await svc.advance(5 * 60)
    await svc.worker().run_once()
    assert (await svc.wx.get(f"/sim/v1/trades/{newer}")).json()["trade_state"] == "CLOSED"
    assert (await attempts(svc, order["id"]))[1] == (newer, True, True)
