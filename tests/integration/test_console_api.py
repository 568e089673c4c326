"""The operator API the console stands on: order search with totals, the review queue, refunds
with stale ones, rejected notifications by reason, health, reconciliation re-runs — every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from silverpay.beijing import BEIJING
from silverpay.clock import utc
from tests.console import signed_in
from tests.integration.test_service_refunds import paid
from tests.service_harness import ADMIN, Harness


async def _get(svc: Harness, path: str, **params: Any) -> Any:
    response = await svc.api.get(path, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def _flag(svc: Harness, order_id: int, reason: str) -> None:
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.ledger.transaction() as tx:
        row = await tx.lock(order_id)
        assert row is not None
        await tx.flag(row, reason, now=utc(ctx.clock()))


async def test_search_orders_by_number_transaction_openid_and_user(svc: Harness) -> None:
    alice, bob = await svc.shopper(), await svc.shopper()
    _, paid_order = await paid(svc, price_fen=1000)  # a third shopper's
    a1 = await svc.order(alice, price_fen=300)
    a2 = await svc.order(alice, quantity=2, price_fen=450)
    b1 = await svc.order(bob, price_fen=5000)
    detail = await svc.admin_order(paid_order["id"])
    search = "/api/v1/admin/orders"

    everything = await _get(svc, search)
    assert everything["total"] == 4 and everything["amount_fen"] == 1000 + 300 + 900 + 5000
    assert everything["paid_fen"] == 1000
    assert [o["id"] for o in everything["items"]] == [b1["id"], a2["id"], a1["id"], paid_order["id"]]

    def ids(page: dict[str, Any]) -> set[int]:
        return {o["id"] for o in page["items"]}

    assert ids(await _get(svc, search, q=a1["out_trade_no"])) == {a1["id"]}
    assert ids(await _get(svc, search, q=a1["out_trade_no"][:18])) >= {a1["id"]}  # its start
    assert ids(await _get(svc, search, q=detail["transaction_id"])) == {paid_order["id"]}
    assert ids(await _get(svc, search, q=alice.openid)) == {a1["id"], a2["id"]}
    assert ids(await _get(svc, search, q=str(bob.user_id))) == {b1["id"]}
    assert (await _get(svc, search, q="nothing-like-it"))["total"] == 0
    assert (await _get(svc, search, q="50%_"))["total"] == 0  # LIKE's wildcards are literal
    assert ids(await _get(svc, search, status="PAID")) == {paid_order["id"]}
    assert ids(await _get(svc, search, min_fen=900, max_fen=1000)) == {a2["id"], paid_order["id"]}
    filtered = await _get(svc, search, q=alice.openid, min_fen=500)
    assert (filtered["total"], filtered["amount_fen"]) == (1, 900)
    page = await _get(svc, search, per_page=3, page=2)
    assert ids(page) == {paid_order["id"]} and page["total"] == 4 and page["page"] == 2
    now = datetime.fromtimestamp(svc.clock(), UTC)
    assert (await _get(svc, search, **{"from": (now - timedelta(hours=1)).isoformat()}))["total"] == 4
    assert (await _get(svc, search, **{"to": (now - timedelta(hours=1)).isoformat()}))["total"] == 0
    assert (await _get(svc, search, **{"from": now.date().isoformat()}))["total"] >= 0  # a bare date is midnight UTC
    await _flag(svc, a1["id"], "check me")
    assert ids(await _get(svc, search, needs_review="true")) == {a1["id"]}
    bad = await svc.api.get(search, params={"from": "0001-01-01T00:00:00+05:00"}, headers=ADMIN)
    assert bad.status_code == 400


async def test_review_queue_is_oldest_first_with_reasons(svc: Harness) -> None:
    alice = await svc.shopper()
    first, second, clear = [await svc.order(alice) for _ in range(3)]
    await _flag(svc, second["id"], "flagged first")
    svc.clock.offset += 60
    await _flag(svc, first["id"], "flagged later")
    queue = await _get(svc, "/api/v1/admin/review-queue")
    assert [(o["id"], o["review_reason"]) for o in queue] == [(second["id"], "flagged first"),
                                                              (first["id"], "flagged later")]  # fmt: skip
    assert queue[0]["flagged_at"] < queue[1]["flagged_at"]
    assert clear["id"] not in {o["id"] for o in queue}


async def test_refunds_processing_for_a_day_are_stale(svc: Harness) -> None:
    _, order = await paid(svc)
    await svc.faults(refund_delay_s=86400)  # and only the service's clock moves below
    old = (await svc.refund(order["id"], 100)).json()
    svc.clock.offset += 86400 + 60
    new = (await svc.refund(order["id"], 200)).json()
    listed = await _get(svc, "/api/v1/admin/refunds")
    assert [(r["id"], r["stale"]) for r in listed["items"]] == [(new["id"], False), (old["id"], True)]
    stale = await _get(svc, "/api/v1/admin/refunds", status="stale")
    assert [r["id"] for r in stale["items"]] == [old["id"]] and stale["total"] == 1
    assert (await _get(svc, "/api/v1/admin/refunds", status="SUCCESS"))["total"] == 0
    health = await _get(svc, "/api/v1/admin/health")
    assert health["refunds"] == {"processing": 2, "stale": 1}


async def test_rejected_notifications_grouped_by_reason_per_hour(svc: Harness) -> None:
    for _ in range(3):
        await svc.api.post("/api/v1/wechat/notify", content=b"not xml")
    forged = ("<xml><return_code>SUCCESS</return_code><appid>wx0000000000000000</appid><mch_id>1</mch_id>"
              "<out_trade_no>SP1</out_trade_no><sign>00</sign></xml>")  # fmt: skip
    await svc.api.post("/api/v1/wechat/notify", content=forged.encode())
    report = await _get(svc, "/api/v1/admin/notifications/rejected", hours=2)
    assert report["total"] == 4
    top = report["reasons"][0]
    assert top["total"] == 3 and top["endpoints"] == ["wechat.notify"] and sum(h["count"] for h in top["per_hour"]) == 3
    assert top["code"] == "XML_FORMAT_ERROR"
    assert len(report["reasons"]) == 2 and report["reasons"][1]["total"] == 1


async def test_health_reports_what_is_stored_and_what_is_missing(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.order(alice)
    await svc.faults(notify_drop_rate=1.0)
    await svc.pay_params(alice, order["id"])  # PAYING, the sweeper's first look due in 15 s
    await svc.faults(api_error_rate=1.0)
    svc.clock.offset += 120
    requery = await svc.api.post(f"/api/v1/admin/orders/{order['id']}/requery", headers=ADMIN)
    assert requery.status_code in (502, 503)
    health = await _get(svc, "/api/v1/admin/health")
    assert health["database"]["ok"] is True
    assert health["sweeper"]["paying"] == 1 and health["sweeper"]["due"] == 1
    assert 100 <= health["sweeper"]["oldest_due_age_s"] <= 130
    assert health["wechat"]["api_version"] == "v2"
    assert health["wechat"]["calls_last_hour"] == 2 and health["wechat"]["failed_last_hour"] == 1
    assert health["wechat"]["error_rate_last_hour"] == 0.5
    assert health["reconciliation"] == {"last_clean_day": None, "last_finished_day": None}
    assert health["worker"] == {"state": "none", "heartbeat_at": None, "age_s": None, "live_within_s": 30.0,
                                "workers": [], "stale_workers": 0}  # fmt: skip
    assert health["missing"] == ["platform certificate expiry: WeChat Pay v2 signs with the API key, no certificate"]


async def test_health_names_v3_platform_keys(database_url: str) -> None:
    from tests.service_harness import running_harness

    async with running_harness(database_url, api_version="v3", key_mode="certificate") as h:
        alice = await h.shopper()
        await h.pay_params(alice, (await h.order(alice))["id"])  # the first signed answer brings the certificates
        health = await _get(h, "/api/v1/admin/health")
    [key] = health["wechat"]["platform_keys"]
    assert key["kind"] == "certificate" and key["expires_at"] is not None and key["expires_in_days"] > 0


async def test_finance_re_runs_a_reconciliation(svc: Harness) -> None:
    day = datetime.fromtimestamp(svc.clock(), BEIJING).date()
    async with signed_in(svc, "finance") as finance:
        today = await finance.send("POST", "/api/v1/admin/reconciliations", json={"date": day.isoformat()})
        assert today.status_code == 400
        bad = await finance.send("POST", "/api/v1/admin/reconciliations", json={"date": "2026-02-30"})
        assert bad.status_code == 400
        past_day = (day - timedelta(days=2)).isoformat()  # (yesterday's bill exists from 09:00 Beijing only)
        run = await finance.send("POST", "/api/v1/admin/reconciliations", json={"date": past_day})
        assert run.status_code == 201, run.text
        assert run.json()["bill_date"] == past_day and run.json()["status"] == "CLEAN"
        assert run.json()["items"] == []
    health = await _get(svc, "/api/v1/admin/health")
    assert health["reconciliation"]["last_clean_day"] == past_day
    trail = await _get(svc, "/api/v1/admin/audit")
    assert trail[0]["action"] == "reconciliation.run" and trail[0]["operator"] == finance.email
    assert trail[0]["target"] == f"reconciliation:{run.json()['id']}"
