"""/healthz, /readyz, /metrics and the request id, on the in-process service and simulator."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from silverpay.service.context import ServiceContext
from tests.service_harness import ADMIN, Harness
from tests.waiting import eventually


def ctx_of(svc: Harness) -> ServiceContext:
    ctx: ServiceContext = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    return ctx


async def scrape(svc: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await svc.api.get("/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_and_readyz(svc: Harness) -> None:
    assert (await svc.api.get("/healthz")).json() == {"status": "ok"}
    ready = await svc.api.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "database": "ok", "migrations": "ok"}


async def test_readyz_refuses_a_schema_behind_head(svc: Harness) -> None:
    sessions = ctx_of(svc).sessions
    async with sessions() as db:
        head = (await db.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    async with sessions.begin() as db:
        await db.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    try:
        ready = await svc.api.get("/readyz")
    finally:  # the next test's start-up migrates this database again
        async with sessions.begin() as db:
            await db.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert ready.status_code == 503
    assert ready.json()["ready"] is False and ready.json()["database"] == "ok"
    assert "0005" in ready.json()["migrations"]


async def test_metrics_need_the_operator_token(svc: Harness) -> None:
    assert (await svc.api.get("/metrics")).status_code == 401
    wrong = await svc.api.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "UNAUTHORIZED"


async def test_metrics_count_calls_notifications_and_orders(svc: Harness) -> None:
    before = await scrape(svc)
    alice = await svc.shopper()
    order = await svc.paid_order(alice)

    async def paid() -> bool:
        return (await svc.get(alice, order["id"]))["status"] == "PAID"

    await eventually(paid)
    bad = await svc.api.post("/api/v1/wechat/notify", content=b"<xml><return_code>SUCCESS</return_code></xml>")
    assert bad.status_code == 400
    unpaid = await svc.order(alice)
    await svc.pay_params(alice, unpaid["id"])  # PAYING, first check due in 15 s
    await svc.advance(100)
    after = await scrape(svc)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("silverpay_wechat_calls_total", api_version="v2", endpoint="prepay", code="OK") == 2
    assert delta("silverpay_wechat_calls_total", api_version="login", endpoint="jscode2session", code="OK") == 1
    assert delta("silverpay_wechat_call_seconds_count", api_version="v2", endpoint="prepay") == 2
    assert delta("silverpay_notifications_total", api_version="v2", endpoint="wechat.notify", outcome="accepted") >= 1
    rejected = dict(api_version="v2", endpoint="wechat.notify", outcome="invalid_notification")
    assert delta("silverpay_notifications_total", **rejected) == 1
    assert delta("silverpay_notification_settle_seconds_count", api_version="v2") >= 2
    assert value(after, "silverpay_orders", status="PAID") == 1
    assert value(after, "silverpay_orders", status="PAYING") == 1
    assert value(after, "silverpay_sweep_backlog") == 1
    assert 80 <= value(after, "silverpay_sweep_oldest_due_seconds") <= 100 + 60
    assert value(after, "silverpay_refunds_processing") == 0
    assert value(after, "silverpay_reconciliation_discrepancies_open") == 0


async def test_a_refund_in_processing_shows(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.paid_order(alice, price_fen=500)

    async def paid() -> bool:
        return (await svc.get(alice, order["id"]))["status"] == "PAID"

    await eventually(paid)
    assert (await svc.refund(order["id"], 200)).status_code == 201
    samples = await scrape(svc)
    assert value(samples, "silverpay_refunds_processing") == 1
    assert value(samples, "silverpay_wechat_calls_total", api_version="v2", endpoint="refund", code="OK") >= 1


async def test_request_id_on_every_response(svc: Harness) -> None:
    made = await svc.api.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    given = await svc.api.get("/api/v1/products", headers={"X-Request-Id": "lb-7f3a:42"})
    assert given.headers["x-request-id"] == "lb-7f3a:42"
    refused = await svc.api.get("/healthz", headers={"X-Request-Id": 'a b"<script>'})
    assert refused.headers["x-request-id"] != 'a b"<script>' and len(refused.headers["x-request-id"]) == 32
    error = await svc.api.get("/api/v1/orders/1")
    assert error.status_code == 401 and "x-request-id" in error.headers
    json_type = {"Content-Type": "application/json"}
    too_large = await svc.api.post("/api/v1/orders", content=b"x" * 70_000, headers=json_type)
    assert too_large.status_code == 413 and "x-request-id" in too_large.headers
    notify = await svc.api.post("/api/v1/wechat/notify", content=b"<xml/>", headers={"X-Request-Id": "n-1"})
    assert notify.headers["x-request-id"] == "n-1"
    assert isinstance(notify, httpx.Response)
