"""Events and webhooks on every backend: published from the outbox, delivered signed, retried until
acknowledged (once), racing workers deliver once per endpoint, three days of failures fail the
delivery and flag the endpoint, five disable it; rotation signs with both secrets."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from silverpay.jobs.webhook_http import HttpxPoster
from silverpay.service import events, webhooks
from silverpay.webhooks import verify
from tests.merchant import api_key, context, payment_body
from tests.service_harness import ADMIN, Harness
from tests.waiting import eventually

HOOK_URL = "http://merchant.test/hooks"


@dataclass
class Receiver:
    """A merchant's webhook URL: fails the first ``failures`` deliveries of each event, then 200."""

    clock: Callable[[], float] = time.time  # the service's, to check signatures' timestamps against
    failures: int = 0
    status: int = 500
    requests: list[tuple[dict[str, Any], str, int]] = field(default_factory=list)  # event, signature, answer
    raw: list[tuple[bytes, float]] = field(default_factory=list)  # each body as sent, and when it arrived
    seen: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let racing senders interleave
        event = json.loads(request.content)
        self.seen[event["id"]] += 1
        answer = self.status if self.seen[event["id"]] <= self.failures else 200
        self.requests.append((event, request.headers["Silverpay-Signature"], answer))
        self.raw.append((request.content, self.clock()))
        return httpx.Response(answer, text="nope" * 400 if answer >= 300 else "ok")

    def acknowledged(self) -> Counter[str]:
        return Counter(e["id"] for e, _, answer in self.requests if answer == 200)

    def sender(self, seed: int = 7) -> webhooks.WebhookSender:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return webhooks.WebhookSender(HttpxPoster(client), random.Random(seed), timeout_s=10, lease_s=60)


async def endpoint(svc: Harness, events: list[str] | None = None) -> dict[str, Any]:
    response = await svc.api.post("/api/v1/admin/webhook-endpoints", json={"url": HOOK_URL,
                                  "events": events or ["*"]}, headers=ADMIN)  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["secret"].startswith("whsec_")
    return dict(response.json())


async def closed_payments(svc: Harness, count: int) -> list[int]:
    """Payments created through the API and cancelled at once: one order.closed event each."""
    headers = await api_key(svc)
    ids = []
    for _ in range(count):
        created = await svc.api.post("/api/v1/payments", json=payment_body("o-webhooks"), headers=headers)
        ids.append(created.json()["id"])
        cancelled = await svc.api.post(f"/api/v1/payments/{ids[-1]}/cancel", headers=headers)
        assert cancelled.json()["status"] == "CLOSED"
    return ids


async def test_paid_order_delivered_after_failures_exactly_once(svc: Harness) -> None:
    hook = await endpoint(svc, ["order.paid"])
    receiver = Receiver(svc.clock, failures=3)
    worker = svc.worker()
    worker.webhooks = receiver.sender()
    shopper = await svc.shopper()
    order = await svc.paid_order(shopper)

    async def paid() -> bool:
        return (await svc.get(shopper, order["id"]))["status"] == "PAID"

    await eventually(paid)
    await worker.run_webhook_jobs()
    for _ in range(10):
        await svc.advance(600)  # past any backoff of the first attempts
        await worker.run_webhook_jobs()
    assert [answer for _, _, answer in receiver.requests] == [500, 500, 500, 200]
    assert list(receiver.acknowledged().values()) == [1]
    event, header, _ = receiver.requests[-1]
    assert event["type"] == "order.paid" and event["data"]["object"]["id"] == order["id"]
    assert event["data"]["object"]["object"] == "order" and event["data"]["object"]["status"] == "PAID"
    raw, at = receiver.raw[-1]
    assert verify(raw, header, hook["secret"], now=at)["id"] == event["id"]
    detail = (await svc.api.get(f"/api/v1/events/{event['id']}", headers=ADMIN)).json()
    (delivery,) = detail["deliveries"]
    assert delivery["status"] == "DELIVERED" and delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
    assert len(delivery["attempt_log"][0]["response_head"]) == 1024  # the first 1 KB of the answer
    times = [a["at"] for a in delivery["attempt_log"]]
    assert times == sorted(times) and len(set(times)) == len(times)


async def test_racing_workers_deliver_once_per_endpoint(svc: Harness) -> None:
    await endpoint(svc)
    await endpoint(svc, ["order.closed"])
    ids = await closed_payments(svc, 8)
    receiver = Receiver()
    workers = [svc.worker(), svc.worker()]
    for seed, worker in enumerate(workers):
        worker.webhooks = receiver.sender(seed)
    await workers[0].run_webhook_jobs()  # publishes

    async def drain(worker: Any) -> None:
        while await webhooks.deliver_due(worker.ctx, worker.webhooks, limit=3):
            pass

    await asyncio.gather(*(drain(w) for w in workers))
    acknowledged = receiver.acknowledged()
    assert len(acknowledged) == len(ids) and set(acknowledged.values()) == {2}  # once for each of 2 endpoints
    assert len(receiver.requests) == 2 * len(ids)


async def test_three_days_fail_and_flag_five_days_disable(svc: Harness) -> None:
    hook = await endpoint(svc)
    await closed_payments(svc, 1)
    receiver = Receiver(svc.clock, failures=10**6, status=503)
    worker = svc.worker()
    worker.webhooks = receiver.sender()
    await worker.run_webhook_jobs()
    events = (await svc.api.get("/api/v1/events", params={"type": "order.closed"}, headers=ADMIN)).json()
    (event,) = events
    for _ in range(20):
        await svc.advance(6 * 3600 + 60)  # the backoff's cap
        await worker.run_webhook_jobs()
    failed = (await svc.api.get("/api/v1/events", params={"delivery_failed": "true"}, headers=ADMIN)).json()
    assert [e["id"] for e in failed] == [event["id"]] and failed[0]["deliveries"][0]["status"] == "FAILED"
    attempts = failed[0]["deliveries"][0]["attempts"]
    assert 8 <= attempts <= 20  # exponential backoff: far fewer than a fixed interval would make
    (listed,) = (await svc.api.get("/api/v1/admin/webhook-endpoints", headers=ADMIN)).json()
    assert listed["flagged_at"] is not None and listed["enabled"] is True
    await svc.advance(2 * 86400 + 3600)  # five days since the first failure
    resent = await svc.api.post(f"/api/v1/events/{event['id']}/resend", headers=ADMIN)
    assert resent.json()["deliveries"][0]["status"] == "PENDING"
    await worker.run_webhook_jobs()
    (listed,) = (await svc.api.get("/api/v1/admin/webhook-endpoints", headers=ADMIN)).json()
    assert listed["enabled"] is False and listed["disabled_reason"] == "failing for 5 days"
    assert "secret" not in listed or listed["secret"] is None
    assert hook["secret"] not in json.dumps(listed)


async def test_rotation_signs_with_both_secrets_for_a_day(svc: Harness) -> None:
    hook = await endpoint(svc)
    rotated = await svc.api.patch(f"/api/v1/admin/webhook-endpoints/{hook['id']}", json={"rotate_secret": True},
                                  headers=ADMIN)  # fmt: skip
    new_secret = rotated.json()["secret"]
    assert new_secret != hook["secret"]
    receiver = Receiver()
    worker = svc.worker()
    worker.webhooks = receiver.sender()
    await closed_payments(svc, 1)
    await worker.run_webhook_jobs()
    event, header, _ = receiver.requests[-1]
    raw, at = receiver.raw[-1]
    assert header.count("v1=") == 2
    for secret in (hook["secret"], new_secret):
        assert verify(raw, header, secret, now=at)["id"] == event["id"]
    await svc.advance(24 * 3600 + 1)
    await closed_payments(svc, 1)
    await worker.run_webhook_jobs()
    _, header, _ = receiver.requests[-1]
    assert header.count("v1=") == 1


async def test_endpoint_management_and_event_access(svc: Harness) -> None:
    hook = await endpoint(svc, ["refund.succeeded"])
    bad = await svc.api.post("/api/v1/admin/webhook-endpoints", json={"url": "ftp://x", "events": ["*"]},
                             headers=ADMIN)  # fmt: skip
    assert bad.status_code == 422
    unknown = await svc.api.post("/api/v1/admin/webhook-endpoints", json={"url": HOOK_URL, "events": ["order.x"]},
                                 headers=ADMIN)  # fmt: skip
    assert unknown.status_code == 422
    headers = await api_key(svc)
    assert (await svc.api.get("/api/v1/admin/webhook-endpoints", headers=headers)).status_code == 401
    assert (await svc.api.get("/api/v1/events", headers=headers)).status_code == 401
    patched = await svc.api.patch(f"/api/v1/admin/webhook-endpoints/{hook['id']}",
                                  json={"events": ["order.closed"], "enabled": False}, headers=ADMIN)  # fmt: skip
    assert patched.json()["events"] == ["order.closed"] and patched.json()["enabled"] is False
    assert "secret" not in patched.json() or patched.json()["secret"] is None
    await closed_payments(svc, 1)
    feed = await svc.api.get("/api/v1/events/feed", params={"after": 0, "wait_s": 0}, headers=headers)
    (event,) = feed.json()["events"]
    assert event["type"] == "order.closed" and feed.json()["next"] == int(event["id"].removeprefix("evt_"))
    assert (await svc.api.get("/api/v1/events", headers=ADMIN)).json()[0]["deliveries"] == []  # disabled
    for since, count in (("2000-01-01T00:00:00", 1), ("2999-01-01T00:00:00Z", 0)):  # no zone: UTC
        listed = await svc.api.get("/api/v1/events", params={"since": since}, headers=ADMIN)
        assert listed.status_code == 200 and len(listed.json()) == count
    assert (await svc.api.post(f"/api/v1/events/{event['id']}/resend", params={"endpoint": 999},
                               headers=ADMIN)).status_code == 404  # fmt: skip
    assert (await svc.api.get("/api/v1/events/evt_999999", headers=ADMIN)).status_code == 404
    assert (await svc.api.delete(f"/api/v1/admin/webhook-endpoints/{hook['id']}", headers=ADMIN)).status_code == 204
    assert (await svc.api.get("/api/v1/admin/webhook-endpoints", headers=ADMIN)).json() == []
    trail = (await svc.api.get("/api/v1/admin/audit", headers=ADMIN)).json()
    actions = [a["action"] for a in (trail["actions"] if isinstance(trail, dict) else trail)]
    assert actions[:3] == ["webhook_endpoint.delete", "webhook_endpoint.update", "webhook_endpoint.create"]
    assert hook["secret"] not in json.dumps(trail)


async def test_deliveries_held_for_a_disabled_endpoint_go_out_when_it_is_enabled(svc: Harness) -> None:
    hook = await endpoint(svc)
    await closed_payments(svc, 1)
    receiver = Receiver(svc.clock)
    worker = svc.worker()
    worker.webhooks = receiver.sender()
    await worker.run_webhook_jobs()  # published, one delivery queued (the endpoint is enabled)
    (event,) = (await svc.api.get("/api/v1/events", headers=ADMIN)).json()
    await svc.api.post(f"/api/v1/events/{event['id']}/resend", headers=ADMIN)
    await svc.api.patch(f"/api/v1/admin/webhook-endpoints/{hook['id']}", json={"enabled": False}, headers=ADMIN)
    await svc.api.post(f"/api/v1/events/{event['id']}/resend", params={"endpoint": hook["id"]}, headers=ADMIN)
    await worker.run_webhook_jobs()
    assert len(receiver.requests) == 1  # the one before disabling; the resend waits
    held = (await svc.api.get(f"/api/v1/events/{event['id']}", headers=ADMIN)).json()["deliveries"][0]
    assert held["status"] == "PENDING"
    await svc.api.patch(f"/api/v1/admin/webhook-endpoints/{hook['id']}", json={"enabled": True}, headers=ADMIN)
    await worker.run_webhook_jobs()
    assert len(receiver.requests) == 2 and receiver.requests[-1][0]["id"] == event["id"]


async def test_events_are_kept_thirty_days(svc: Harness) -> None:
    await endpoint(svc)
    await closed_payments(svc, 2)
    receiver = Receiver(svc.clock)
    worker = svc.worker()
    worker.webhooks = receiver.sender()
    await worker.run_webhook_jobs()
    assert len((await svc.api.get("/api/v1/events", headers=ADMIN)).json()) == 2
    await svc.advance(29 * 86400)
    assert await events.prune(context(svc)) == 0
    await svc.advance(2 * 86400)
    assert await events.prune(context(svc)) == 2
    assert (await svc.api.get("/api/v1/events", headers=ADMIN)).json() == []
    await closed_payments(svc, 1)  # publishing goes on after a prune
    await worker.run_webhook_jobs()
    assert len((await svc.api.get("/api/v1/events", headers=ADMIN)).json()) == 1


async def test_each_of_several_events_is_acknowledged_once_after_its_failures(svc: Harness) -> None:
    await endpoint(svc, ["order.closed"])
    await closed_payments(svc, 5)
    receiver = Receiver(svc.clock, failures=2)
    worker = svc.worker()
    worker.webhooks = receiver.sender()
    await worker.run_webhook_jobs()
    for _ in range(6):
        await svc.advance(600)
        await worker.run_webhook_jobs()
    acknowledged = receiver.acknowledged()
    assert len(acknowledged) == 5 and set(acknowledged.values()) == {1}
    for event_id in acknowledged:  # each event's own attempts, in the order they were made
        answers = [answer for event, _, answer in receiver.requests if event["id"] == event_id]
        assert answers == [500, 500, 200]
    assert len(receiver.requests) == 15
