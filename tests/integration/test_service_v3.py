"""The service in WeChat Pay API v3 mode against the simulator, in-process, on every backend:
payments, notifications (and every way one can be bad), cancel, sweeper, expiry, refunds, bills."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from silverpay.beijing import BEIJING
from silverpay.errors import UpstreamUnavailable
from silverpay.service.reconcile import read_bill, run_reconciliation
from silverpay.sim import v3_json
from silverpay.sim.config import DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v2 import xml
from silverpay.wechat.v3 import keys
from silverpay.wechat.v3.client import V3PayClient
from silverpay.wechat.v3.signing import SIGNTEST_PREFIX
from tests.databases import BACKENDS, emptied
from tests.service_harness import Harness, KeyMode, Shopper, running_harness, v3_notification
from tests.waiting import eventually

V3_NOTIFY = "/api/v1/wechat/v3/notify"


@pytest.fixture
async def v3(database_url: str) -> AsyncIterator[Harness]:
    async with running_harness(database_url, api_version="v3") as h:
        yield h


def pay_client(h: Harness) -> V3PayClient:
    client = h.api._transport.app.state.ctx.pay.inner  # type: ignore[attr-defined]  # inside MeteredPayClient
    assert isinstance(client, V3PayClient)
    return client


async def status(h: Harness, shopper: Shopper, order_id: int) -> str:
    return str((await h.get(shopper, order_id))["status"])


async def until_status(h: Harness, shopper: Shopper, order_id: int, wanted: str) -> None:
    async def check() -> bool:
        return await status(h, shopper, order_id) == wanted

    await eventually(check)


async def events(h: Harness, order_id: int, kind: str) -> list[dict[str, Any]]:
    return [e for e in (await h.admin_order(order_id))["events"] if e["kind"] == kind]


async def paid_transitions(h: Harness, order_id: int) -> int:
    return len([e for e in await events(h, order_id, "status") if e["detail"]["to"] == "PAID"])


def transaction(h: Harness, out_trade_no: str, total: int, **overrides: Any) -> dict[str, Any]:
    """The resource of a genuine TRANSACTION.SUCCESS for an order the simulator has seen."""
    trade = h.sim.state.trades[f"{DEMO_MCH_ID}:{out_trade_no}"]
    doc = {
        "appid": DEMO_APPID, "mchid": DEMO_MCH_ID, "out_trade_no": out_trade_no,
        "transaction_id": trade.transaction_id or "4200000000202611270000000042", "trade_type": "JSAPI",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "success_time": "2026-11-27T12:00:00+08:00", "payer": {"openid": trade.openid},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
    }  # fmt: skip
    return doc | overrides


async def prepaid(h: Harness, shopper: Shopper, price_fen: int = 2500) -> dict[str, Any]:
    order = await h.order(shopper, price_fen=price_fen)
    await h.pay_params(shopper, order["id"])
    return order


# The whole flow in each key mode ---------------------------------------------------------------


# Every key mode on SQLite; the servers once each (the key mode is not the database's business).
KEY_MODES = [("sqlite", "public_key"), ("sqlite", "certificate"), ("sqlite", "mixed"), ("postgresql", "public_key"),
             ("mysql", "mixed")]  # fmt: skip


@pytest.mark.parametrize(("database_url", "key_mode"), KEY_MODES, indirect=["database_url"])
async def test_pay_notify_confirm_refund_in_each_key_mode(database_url: str, key_mode: KeyMode) -> None:
    async with running_harness(database_url, api_version="v3", key_mode=key_mode) as h:
        alice = await h.shopper()
        order = await h.order(alice)
        params = await h.pay_params(alice, order["id"])
        assert params["signType"] == "RSA" and params["package"].startswith("prepay_id=")
        assert (await h.wechat_pay(alice, params)).status_code == 200
        await until_status(h, alice, order["id"], "PAID")
        # The order is PAID as soon as the service commits; the simulator logs the attempt once answered.
        attempts: list[dict[str, Any]] = []

        async def answered() -> bool:
            attempts[:] = (await h.wx.get("/sim/v1/notifications",
                                          params={"out_trade_no": order["out_trade_no"]})).json()  # fmt: skip
            return bool(attempts)

        await eventually(answered)
        assert (attempts[0]["http_status"], attempts[0]["acknowledged"]) == (204, True)
        confirmed = await h.api.post(f"/api/v1/orders/{order['id']}/confirm", headers=alice.auth)
        assert confirmed.json()["status"] == "PAID"
        assert (await h.refund(order["id"], 1000)).status_code == 201
        await h.advance(2)
        await until_status(h, alice, order["id"], "PARTIALLY_REFUNDED")
        notified = await events(h, order["id"], "wechat.notify")
        assert notified[0]["detail"]["sign_type"] == "WECHATPAY2-SHA256-RSA2048"
        assert notified[0]["detail"]["notification_id"].startswith("EV-")
        refreshes = pay_client(h).platform.refreshes
        # Public-key mode never downloads; certificate mode once for everything; mixed when needed.
        assert refreshes == {"public_key": 0, "certificate": 1, "mixed": refreshes}[key_mode] <= 1


async def test_cancel_closes_at_once_and_at_wechat_after_five_minutes(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await prepaid(v3, alice)
    early = await v3.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert early.status_code == 200 and early.json()["status"] == "CLOSED"
    trade = f"/sim/v1/trades/{order['out_trade_no']}"
    assert (await v3.wx.get(trade)).json()["trade_state"] == "NOTPAY"
    await v3.advance(301)
    await v3.worker().run_once()
    assert (await v3.wx.get(trade)).json()["trade_state"] == "CLOSED"


async def test_cancel_of_an_order_paid_at_wechat_settles_it(v3: Harness) -> None:
    alice = await v3.shopper()
    await v3.faults(notify_drop_rate=1.0)
    order = await v3.paid_order(alice)
    await v3.advance(301)
    cancelled = await v3.api.post(f"/api/v1/orders/{order['id']}/cancel", headers=alice.auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "PAID"  # WeChat said ORDERPAID


async def test_sweeper_and_expiry(v3: Harness) -> None:
    alice = await v3.shopper()
    await v3.faults(notify_drop_rate=1.0)
    lost = await v3.paid_order(alice)
    pending = await prepaid(v3, alice)
    await v3.advance(15)
    await v3.worker().run_once()
    assert await status(v3, alice, lost["id"]) == "PAID"  # the sweeper asked WeChat
    await v3.advance(v3.settings.order_ttl_s)
    await v3.worker().run_once()
    assert await status(v3, alice, pending["id"]) == "CLOSED"
    assert (await v3.wx.get(f"/sim/v1/trades/{pending['out_trade_no']}")).json()["trade_state"] == "CLOSED"


async def test_refund_followed_up_by_query_and_refused_refunds(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await v3.paid_order(alice, price_fen=3000)
    await until_status(v3, alice, order["id"], "PAID")
    await v3.faults(notify_drop_rate=1.0)
    refund = (await v3.refund(order["id"], 3000)).json()
    assert refund["accepted"] and refund["status"] == "PROCESSING"
    await v3.advance(60)
    await v3.worker().run_once()  # no notification: the worker asks (refund query)
    assert await status(v3, alice, order["id"]) == "REFUNDED"
    queries = await events(v3, order["id"], "wechat.refund_query")
    assert queries[-1]["detail"]["refund_status"] == "SUCCESS"

    other = await v3.paid_order(alice, price_fen=500)
    await v3.advance(15)
    await v3.worker().run_once()
    await v3.faults(notify_drop_rate=1.0, refund_outcome="REFUNDCLOSE")
    await v3.refund(other["id"], 500)
    await v3.advance(60)
    await v3.worker().run_once()
    view = await v3.admin_order(other["id"])
    assert view["status"] == "PAID"  # WeChat closed the refund (v3 says CLOSED): nothing was refunded
    assert [r["status"] for r in view["refunds"]] == ["CLOSED"]


async def test_answers_with_a_bad_signature_are_an_unknown_outcome(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await v3.order(alice)
    await v3.faults(api_bad_signature_rate=1.0)
    refused = await v3.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    await v3.faults()
    assert (await v3.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)).status_code == 200


async def test_system_errors_are_an_unknown_outcome_and_business_errors_are_not(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await v3.order(alice)
    await v3.faults(api_error_rate=1.0)
    busy = await v3.api.post(f"/api/v1/orders/{order['id']}/pay", headers=alice.auth)
    assert busy.status_code == 503
    await v3.faults()
    await v3.faults(notify_drop_rate=1.0)
    paid = await v3.paid_order(alice)
    await v3.advance(PREPAY_REUSE_S)  # the stored prepay is too old to hand out again: ask WeChat anew
    again = await v3.api.post(f"/api/v1/orders/{paid['id']}/pay", headers=alice.auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "ORDER_ALREADY_PAID"
    assert await status(v3, alice, paid["id"]) == "PAID"  # settled from the query that ORDERPAID led to


PREPAY_REUSE_S = 2 * 3600 - 599


# Notifications ---------------------------------------------------------------------------------


async def post_notification(h: Harness, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None]:
    response = await h.api.post(V3_NOTIFY, content=body, headers=headers)
    return response.status_code, (response.json() if response.content else None)


BAD_NOTIFICATIONS = ["other_key", "probe", "stale", "tampered", "wrong_api_v3_key", "wrong_appid", "wrong_mchid",
                     "no_headers"]  # fmt: skip


async def test_bad_notifications_are_refused_and_change_nothing(v3: Harness) -> None:
    """One harness per backend, each kind of bad notification in turn, on an order of its own."""
    alice = await v3.shopper()
    for case in BAD_NOTIFICATIONS:
        order = await prepaid(v3, alice)
        resource = transaction(v3, order["out_trade_no"], 2500)
        kwargs: dict[str, Any] = {}
        if case == "other_key":
            kwargs["key"] = keys.generate_private_key()
        elif case == "stale":
            kwargs["timestamp"] = int(time.time()) - 301
        elif case == "wrong_api_v3_key":
            kwargs["api_v3_key"] = "W" * 32
        elif case == "wrong_appid":
            resource["appid"] = "wx1111111111111111"
        elif case == "wrong_mchid":
            resource["mchid"] = "1900000999"
        headers, body = v3_notification(v3.sim.platform, resource, **kwargs)
        if case == "probe":
            headers["Wechatpay-Signature"] = SIGNTEST_PREFIX + "probe"
        elif case == "tampered":
            body = body.replace(b'"summary":"test"', b'"summary":"tost"')
        elif case == "no_headers":
            headers = {"Content-Type": "application/json"}
        code, reply = await post_notification(v3, headers, body)
        assert code == 400 and reply is not None and reply["code"] == "FAIL", case
        assert await status(v3, alice, order["id"]) == "PAYING", case
        rejected = [r["code"] for r in (await v3.admin_order(order["id"]))["rejected_notifications"]]
        # Decrypted, the order it claims gets the record; otherwise the claim is unreadable.
        assert rejected == {"wrong_appid": ["APPID_MISMATCH"], "wrong_mchid": ["MCH_ID_MISMATCH"]}.get(case, []), case


async def test_wrong_amount_is_acknowledged_and_flagged(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await prepaid(v3, alice)
    headers, body = v3_notification(v3.sim.platform, transaction(v3, order["out_trade_no"], 1))
    assert (await post_notification(v3, headers, body))[0] == 204
    view = await v3.admin_order(order["id"])
    assert view["status"] == "PAYING" and view["needs_review"] is True


async def test_other_event_types_are_acknowledged_without_action(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await prepaid(v3, alice)
    headers, body = v3_notification(v3.sim.platform, {"anything": 1}, event_type="TRANSACTION.SOMETHING_NEW")
    assert (await post_notification(v3, headers, body))[0] == 204
    assert await status(v3, alice, order["id"]) == "PAYING"


async def test_a_replayed_delivery_is_refused_a_resent_one_is_a_duplicate(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await prepaid(v3, alice)
    resource = transaction(v3, order["out_trade_no"], 2500)
    headers, body = v3_notification(v3.sim.platform, resource, notification_id="EV-REPLAY-1")
    assert (await post_notification(v3, headers, body))[0] == 204
    code, reply = await post_notification(v3, headers, body)  # byte for byte again: a replay
    assert code == 400 and reply == {"code": "FAIL", "message": "replayed notification"}
    resent = v3_notification(v3.sim.platform, resource, notification_id="EV-REPLAY-1")  # WeChat's retry: signed anew
    assert (await post_notification(v3, *resent))[0] == 204
    outcomes = [e["detail"]["outcome"] for e in await events(v3, order["id"], "wechat.notify")]
    assert outcomes == ["settled", "replayed", "duplicate"]
    assert await paid_transitions(v3, order["id"]) == 1


async def test_concurrent_duplicates_settle_once(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await prepaid(v3, alice)
    resource = transaction(v3, order["out_trade_no"], 2500)
    deliveries = [v3_notification(v3.sim.platform, resource, notification_id="EV-DUP") for _ in range(10)]
    results = await asyncio.gather(*(post_notification(v3, h, b) for h, b in deliveries))
    assert [code for code, _ in results] == [204] * 10
    assert await paid_transitions(v3, order["id"]) == 1


async def test_unknown_serial_refreshes_once_then_is_rate_limited(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await prepaid(v3, alice)
    platform = pay_client(v3).platform
    before = platform.refreshes
    resource = transaction(v3, order["out_trade_no"], 2500)
    # Signed by the platform key under a certificate serial this public-key merchant never saw:
    # the download brings the certificate, and the notification verifies.
    headers, body = v3_notification(v3.sim.platform, resource, serial=v3.sim.platform.serial)
    assert (await post_notification(v3, headers, body))[0] == 204
    assert platform.refreshes == before + 1
    forged, body = v3_notification(v3.sim.platform, resource, serial="7E57AB1E", key=keys.generate_private_key())
    assert (await post_notification(v3, forged, body))[0] == 400  # refresh again: not there either
    assert platform.refreshes == before + 1  # within a minute of the last download: no new one
    assert await paid_transitions(v3, order["id"]) == 1


async def test_refund_notification_replay(v3: Harness) -> None:
    alice = await v3.shopper()
    order = await v3.paid_order(alice)
    await until_status(v3, alice, order["id"], "PAID")
    captured: list[tuple[dict[str, str], bytes]] = []
    original = v3.sim.notifier._http.post  # type: ignore[attr-defined]

    async def spy(url: str, **kw: Any) -> Any:
        captured.append((dict(kw["headers"]), kw["content"]))
        return await original(url, **kw)

    v3.sim.notifier._http.post = spy  # type: ignore[attr-defined, method-assign]
    await v3.refund(order["id"], 100)
    await v3.advance(2)
    await until_status(v3, alice, order["id"], "PARTIALLY_REFUNDED")
    headers, body = next((h, b) for h, b in captured if b"refund" in b)
    code, reply = await post_notification(v3, headers, body)
    assert code == 400 and reply is not None and reply["message"] == "replayed notification"
    assert [e["detail"]["outcome"] for e in await events(v3, order["id"], "wechat.refund_notify")][-1] == "replayed"


async def test_v2_endpoint_refuses_in_v3_mode(v3: Harness) -> None:
    """Each endpoint answers in its own version's format; the configured version verifies."""
    response = await v3.api.post("/api/v1/wechat/notify", content=b"<xml></xml>")
    assert response.status_code == 400 and xml.decode(response.content)["return_code"] == "FAIL"


async def test_v3_endpoint_refuses_in_v2_mode(svc: Harness) -> None:
    response = await svc.api.post(V3_NOTIFY, content=b"{}")
    assert response.status_code == 400 and response.json()["code"] == "FAIL"


# Bills -----------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, migrated_database: object) -> str:
    return emptied(migrated_database, request.param)


async def test_bill_download_verify_and_reconcile(empty_database: str, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async with running_harness(empty_database, api_version="v3") as h:
        alice = await h.shopper()
        orders = [await h.paid_order(alice, price_fen=1000 + i) for i in range(3)]
        for order in orders:
            await until_status(h, alice, order["id"], "PAID")
        assert (await h.refund(orders[0]["id"], 400)).status_code == 201
        await h.advance(2)
        await until_status(h, alice, orders[0]["id"], "PARTIALLY_REFUNDED")
        day = datetime.fromtimestamp(h.clock(), BEIJING).date()
        await h.advance(86400)
        ctx = h.api._transport.app.state.ctx  # type: ignore[attr-defined]
        report = await run_reconciliation(ctx, day, csv_path=str(tmp_path / "v3.csv"))
        assert (report.bill_rows, report.discrepancies) == (4, 0)

        path = tmp_path / "bill.txt"
        assert await pay_client(h).download_bill(day, path) is True
        lines = list(read_bill(path))
        assert {getattr(line, "out_trade_no", None) for line in lines} >= {o["out_trade_no"] for o in orders}
        assert await pay_client(h).download_bill(day - timedelta(days=30), tmp_path / "none.txt") is False

        real = v3_json.bill_answer
        monkeypatch.setattr(v3_json, "bill_answer", lambda bill, url: {**real(bill, url), "hash_value": "0" * 40})
        with pytest.raises(UpstreamUnavailable, match="SHA1"):
            await pay_client(h).download_bill(day, tmp_path / "altered.txt")
        assert not (tmp_path / "altered.txt").exists()
