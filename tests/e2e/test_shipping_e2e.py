"""Shipping end to end on sockets, every database backend: pay → ship → the buyer confirms →
settled, with the simulator answering 10060001 first, an upload that lands but whose answer times
out, and message pushes (encrypted XML to the service's mp-events) dropped, then delivered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from silverpay.demo.defaults import DEMO_MSG_AES_KEY, DEMO_MSG_TOKEN
from silverpay.sim.config import DEMO_APPID
from tests.databases import BACKENDS
from tests.e2e.processes import wait_for
from tests.e2e.stack import ADMIN, Stack, running_stack

pytestmark = pytest.mark.e2e
EXPRESS = {"logistics_type": 1, "parcels": [{"item_desc": "Kettle * 1", "tracking_no": "YT0001", "express_company":
                                            "YTO"}]}  # fmt: skip


@pytest.fixture(params=BACKENDS)
def stack(
    make_database: Any, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    logs = str(tmp_path_factory.mktemp("logs"))
    # Two service processes (each with its embedded worker) share the database and the access_token.
    env = {"SILVERPAY_WECHAT_TIMEOUT_S": "1", "SILVERPAY_SHIPPING_RETRY_S": "1", "SILVERPAY_WORKER_POLL_S": "0.2"}
    with running_stack(make_database(request.param), logs, services=2, **env) as running:
        push = {"url": running.api + "/api/v1/wechat/mp-events", "token": DEMO_MSG_TOKEN, "aes_key": DEMO_MSG_AES_KEY,
                "mode": "safe", "format": "xml"}  # fmt: skip
        assert running.wx("PUT", f"/sim/v1/apps/{DEMO_APPID}/push", json=push).status_code == 200
        yield running


def paid_order(stack: Stack) -> tuple[dict[str, str], dict[str, Any]]:
    auth, openid = stack.shopper()
    order = stack.order(auth)
    assert stack.pay(auth, openid, order["id"]).status_code == 200
    assert stack.call("POST", f"/api/v1/orders/{order['id']}/confirm", headers=auth).json()["status"] == "PAID"
    return auth, order


def shipment(stack: Stack, order_id: int) -> dict[str, Any]:
    return dict(stack.admin_order(order_id)["shipment"])


def sim_record(stack: Stack, transaction_id: str) -> dict[str, Any] | None:
    record = stack.wx("GET", f"/sim/v1/shipments/{transaction_id}").json()["shipment"]
    return dict(record) if record else None


def test_ship_through_payment_unknown_and_a_lost_answer_then_settle(stack: Stack) -> None:
    stack.wx("PUT", "/sim/v1/faults", json={"shipping_payment_delay_s": 10, "push_drop_rate": 1})
    auth, order = paid_order(stack)
    tid = stack.admin_order(order["id"])["transaction_id"]

    first = stack.call("POST", f"/api/v1/admin/orders/{order['id']}/shipments", json=EXPRESS, headers=ADMIN)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "SHIPPING_SUBMITTED" and first.json()["error"]["code"] == "10060001"

    # The next upload lands at WeChat, but its answer never comes back in time.
    # (Every shipping call hangs now, get_order too: the worker retries until the fault is lifted.)
    stack.wx("PUT", "/sim/v1/faults", json={"push_drop_rate": 1, "shipping_hang_rate": 1, "shipping_hang_s": 3,
                                            "shipping_hang_after_effect": True})  # fmt: skip
    wait_for(lambda: (sim_record(stack, tid) or {}).get("finish_count") == 1, timeout=30)
    wait_for(lambda: any(e["kind"] == "wechat.upload_shipping_info" and e["detail"]["outcome"] == "unknown"
                         for e in stack.admin_order(order["id"])["events"]), timeout=30)  # fmt: skip
    stack.wx("PUT", "/sim/v1/faults", json={"push_drop_rate": 1})
    # The worker asks get_order before sending again: it landed, so it is SHIPPED without a re-ship.
    wait_for(lambda: shipment(stack, order["id"])["state"] == "SHIPPED", timeout=30)
    shipped = shipment(stack, order["id"])
    assert shipped["reships_left"] == 1 and shipped["completed_uploads"] == 1
    assert (sim_record(stack, tid) or {})["finish_count"] == 1
    events = stack.admin_order(order["id"])["events"]
    assert any(e["kind"] == "wechat.get_order" and e["detail"].get("landed") for e in events)

    # The buyer confirms in WeChat; the settlement push is dropped; the client re-checks with the server.
    buyer = stack.call("GET", f"/api/v1/orders/{order['id']}/shipment", headers=auth).json()
    assert buyer["can_confirm_receipt"] and buyer["transaction_id"] == tid
    assert stack.wx("POST", "/sim/v1/confirm-receipt", json={"transaction_id": tid}).status_code == 200
    assert stack.call("GET", f"/api/v1/orders/{order['id']}/shipment", headers=auth).json()["state"] == "SHIPPED"
    refreshed = stack.call("POST", f"/api/v1/orders/{order['id']}/shipment/refresh", headers=auth, service=1)
    assert refreshed.status_code == 200 and refreshed.json()["state"] == "SETTLED"


def test_pushes_settle_a_shipment(stack: Stack) -> None:
    _, order = paid_order(stack)
    tid = stack.admin_order(order["id"])["transaction_id"]
    shipped = stack.call("POST", f"/api/v1/admin/orders/{order['id']}/shipments", json=EXPRESS, headers=ADMIN)
    assert shipped.json()["state"] == "SHIPPED", shipped.text
    assert stack.wx("POST", "/sim/v1/confirm-receipt", json={"transaction_id": tid}).status_code == 200
    # No client call: the encrypted settlement push reaches mp-events, which checks get_order.
    wait_for(lambda: shipment(stack, order["id"])["state"] == "SETTLED", timeout=30)
    events = stack.admin_order(order["id"])["events"]
    assert any(e["kind"] == "wechat.get_order" and e["detail"]["source"].startswith("push:") for e in events)
    pushes = stack.wx("GET", "/sim/v1/notifications", params={"kind": "mp_push"}).json()
    assert any(p.get("acknowledged") for p in pushes)
