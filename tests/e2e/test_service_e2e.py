"""The merchant service and the simulator as processes on sockets, on every database backend,
on WeChat Pay API v2 and v3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from silverpay.sim.config import DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v3 import keys
from tests.databases import BACKENDS
from tests.e2e.processes import wait_for
from tests.e2e.stack import ADMIN, Stack, running_stack
from tests.notify_bodies import SUCCESS_REPLY, XXE, notification
from tests.service_harness import v3_notification

pytestmark = pytest.mark.e2e


STACKS = [(api, backend) for api in ("v2", "v3") for backend in BACKENDS]


@pytest.fixture(scope="module", params=STACKS, ids=[f"{api}-{backend}" for api, backend in STACKS])
def stack(
    make_database: Any, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """Two service processes on one database of their own (the processes are costly to start, so
    the tests of this module share them): races below cross process boundaries."""
    api_version, backend = request.param
    logs = str(tmp_path_factory.mktemp("logs"))
    with running_stack(make_database(backend), logs, services=2, api_version=api_version) as running:
        yield running


def v3_transaction(stack: Stack, out_trade_no: str, total: int, **overrides: Any) -> dict[str, Any]:
    trade = stack.wx("GET", f"/sim/v1/trades/{out_trade_no}").json()
    return {
        "appid": DEMO_APPID, "mchid": DEMO_MCH_ID, "out_trade_no": out_trade_no,
        "transaction_id": trade["transaction_id"] or "4200000000202611270000000077", "trade_type": "JSAPI",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "success_time": "2026-11-27T12:00:00+08:00",
        "payer": {"openid": trade["openid"]}, "amount": {"total": total, "payer_total": total, "currency": "CNY"},
        **overrides,
    }  # fmt: skip


def post_v3(stack: Stack, resource: dict[str, Any], *, service: int = 0, **kw: Any) -> httpx.Response:
    headers, body = v3_notification(stack.platform, resource, **kw)
    return stack.call("POST", stack.notify_path, content=body, headers=headers, service=service)


@pytest.fixture(autouse=True)
def no_faults(stack: Stack) -> Iterator[None]:
    yield
    stack.wx("DELETE", "/sim/v1/faults")


def test_login_new_returning_bad_and_reused(stack: Stack) -> None:
    first = stack.login_code("e2e-alice")
    new = stack.call("POST", "/api/v1/auth/wx-login", json={"code": first["code"]})
    assert new.status_code == 200 and "session_key" not in new.text
    again = stack.call("POST", "/api/v1/auth/wx-login", json={"code": stack.login_code("e2e-alice")["code"]})
    assert again.json()["user"]["id"] == new.json()["user"]["id"]
    reused = stack.call("POST", "/api/v1/auth/wx-login", json={"code": first["code"]})
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "INVALID_LOGIN_CODE"
    bad = stack.call("POST", "/api/v1/auth/wx-login", json={"code": "made-up"})
    assert bad.status_code == 400


def test_orders_are_isolated_between_users(stack: Stack) -> None:
    alice, _ = stack.shopper()
    bob, _ = stack.shopper()
    order = stack.order(alice)
    assert stack.call("GET", f"/api/v1/orders/{order['id']}", headers=bob).status_code == 404
    assert stack.call("POST", f"/api/v1/orders/{order['id']}/pay", headers=bob).status_code == 404
    assert stack.call("GET", "/api/v1/orders", headers=bob).json() == []


def test_pay_settle_by_notification(stack: Stack) -> None:
    auth, openid = stack.shopper()
    order = stack.order(auth)
    paid = stack.pay(auth, openid, order["id"])  # the simulator checks paySign as WeChat does
    assert paid.status_code == 200, paid.text
    wait_for(lambda: stack.status(auth, order["id"]) == "PAID")
    log_url = f"/sim/v1/notifications?out_trade_no={order['out_trade_no']}"
    wait_for(lambda: bool(stack.wx("GET", log_url).json()))  # logged once the service has answered
    attempts = stack.wx("GET", log_url).json()
    assert attempts[0]["acknowledged"]
    if stack.api_version == "v3":  # 204, no body (SPEC §3.4)
        assert (attempts[0]["http_status"], attempts[0]["response_body"]) == (204, "")
    else:
        assert attempts[0]["response_body"] == SUCCESS_REPLY.decode()


def test_settle_by_confirm_when_every_notification_is_dropped(stack: Stack) -> None:
    stack.wx("PUT", "/sim/v1/faults", json={"notify_drop_rate": 1.0})
    auth, openid = stack.shopper()
    order = stack.order(auth)
    assert stack.pay(auth, openid, order["id"]).status_code == 200
    assert stack.status(auth, order["id"]) == "PAYING"
    confirmed = stack.call("POST", f"/api/v1/orders/{order['id']}/confirm", headers=auth, service=1)
    assert confirmed.json()["status"] == "PAID"


def test_cancel_and_cancel_of_a_paid_order(stack: Stack) -> None:
    auth, openid = stack.shopper()
    fresh = stack.order(auth)
    assert stack.call("POST", f"/api/v1/orders/{fresh['id']}/cancel", headers=auth).json()["status"] == "CLOSED"
    pending = stack.order(auth)
    stack.call("POST", f"/api/v1/orders/{pending['id']}/pay", headers=auth)
    early = stack.call("POST", f"/api/v1/orders/{pending['id']}/cancel", headers=auth)
    assert early.status_code == 200 and early.json()["status"] == "CLOSED"  # at once, closed at WeChat later
    stack.wx("PUT", "/sim/v1/faults", json={"notify_drop_rate": 1.0})
    paid = stack.order(auth)
    assert stack.pay(auth, openid, paid["id"]).status_code == 200
    cancelled = stack.call("POST", f"/api/v1/orders/{paid['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "PAID"


@pytest.mark.parametrize(
    ("kind", "expected_reply"),
    [("forged", "FAIL"), ("wrong_appid", "FAIL"), ("xxe", "FAIL"), ("wrong_amount", "SUCCESS")],
)
def test_bad_notifications(stack: Stack, kind: str, expected_reply: str) -> None:
    auth, _ = stack.shopper()
    order = stack.order(auth, price_fen=2500)
    stack.call("POST", f"/api/v1/orders/{order['id']}/pay", headers=auth)
    if stack.api_version == "v3":
        response = _bad_v3_notification(stack, kind, order["out_trade_no"])
        assert response.status_code == (204 if expected_reply == "SUCCESS" else 400)
        if expected_reply == "FAIL":
            assert response.json()["code"] == "FAIL"
    else:
        body = {
            "forged": notification(order["out_trade_no"], 2500, key="F" * 32),
            "wrong_appid": notification(order["out_trade_no"], 2500, appid="wx1111111111111111"),
            "xxe": XXE,
            "wrong_amount": notification(order["out_trade_no"], 1),
        }[kind]
        response = stack.call("POST", "/api/v1/wechat/notify", content=body)
        assert f"<return_code><![CDATA[{expected_reply}]]></return_code>" in response.text
    assert stack.status(auth, order["id"]) == "PAYING"
    view = stack.admin_order(order["id"])
    assert view["needs_review"] is (kind == "wrong_amount")


def _bad_v3_notification(stack: Stack, kind: str, out_trade_no: str) -> httpx.Response:
    if kind == "xxe":  # v3 bodies are JSON: hostile XML is just not a signed notification
        return stack.call("POST", stack.notify_path, content=XXE, headers={"Content-Type": "application/json"})
    resource = v3_transaction(stack, out_trade_no, 1 if kind == "wrong_amount" else 2500)
    if kind == "wrong_appid":
        resource["appid"] = "wx1111111111111111"
    return post_v3(stack, resource, key=keys.generate_private_key() if kind == "forged" else None)


def test_duplicate_and_concurrent_notifications_across_processes(stack: Stack) -> None:
    stack.wx("PUT", "/sim/v1/faults", json={"notify_drop_rate": 1.0})
    auth, openid = stack.shopper()
    order = stack.order(auth, price_fen=2500)
    assert stack.pay(auth, openid, order["id"]).status_code == 200
    trade = stack.wx("GET", f"/sim/v1/trades/{order['out_trade_no']}").json()
    body = notification(order["out_trade_no"], 2500, transaction_id=trade["transaction_id"])
    resource = v3_transaction(stack, order["out_trade_no"], 2500) if stack.api_version == "v3" else {}

    def hit(i: int) -> httpx.Response:
        if i % 3 == 2:
            return stack.call("POST", f"/api/v1/orders/{order['id']}/confirm", headers=auth, service=i % 2)
        if resource:  # the same notification, each copy signed afresh as WeChat's duplicates are
            return post_v3(stack, resource, service=i % 2, notification_id="EV-E2E-DUP")
        return stack.call("POST", "/api/v1/wechat/notify", content=body, service=i % 2)

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(hit, range(36)))
    assert all(r.status_code in (200, 204) for r in responses), [r.text for r in responses if r.status_code >= 300]
    paid = [
        e for e in stack.admin_order(order["id"])["events"] if e["kind"] == "status" and e["detail"]["to"] == "PAID"
    ]
    assert len(paid) == 1
    assert stack.status(auth, order["id"]) == "PAID"


def test_idempotent_create(stack: Stack) -> None:
    auth, _ = stack.shopper()
    product = stack.product()
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    first = stack.call("POST", "/api/v1/orders", json={"product_id": product}, headers=headers)
    second = stack.call("POST", "/api/v1/orders", json={"product_id": product}, headers=headers, service=1)
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    conflict = stack.call("POST", "/api/v1/orders", json={"product_id": product, "quantity": 2}, headers=headers)
    assert conflict.status_code == 409


def test_a_replay_on_another_process_changes_nothing(stack: Stack) -> None:
    """v3 refuses the very same delivery a second time (id and nonce seen); v2 has no id, so a
    replayed body is a duplicate, acknowledged without a second transition."""
    stack.wx("PUT", "/sim/v1/faults", json={"notify_drop_rate": 1.0})
    auth, openid = stack.shopper()
    order = stack.order(auth, price_fen=2500)
    assert stack.pay(auth, openid, order["id"]).status_code == 200
    trade = stack.wx("GET", f"/sim/v1/trades/{order['out_trade_no']}").json()
    if stack.api_version == "v3":
        headers, body = v3_notification(stack.platform, v3_transaction(stack, order["out_trade_no"], 2500))
    else:
        headers, body = {}, notification(order["out_trade_no"], 2500, transaction_id=trade["transaction_id"])
    first = stack.call("POST", stack.notify_path, content=body, headers=headers, service=0)
    replay = stack.call("POST", stack.notify_path, content=body, headers=headers, service=1)
    if stack.api_version == "v3":
        assert (first.status_code, replay.status_code) == (204, 400)
        assert replay.json() == {"code": "FAIL", "message": "replayed notification"}
    else:
        assert first.status_code == replay.status_code == 200 and "SUCCESS" in replay.text
    assert stack.status(auth, order["id"]) == "PAID"
    events = stack.admin_order(order["id"])["events"]
    assert len([e for e in events if e["kind"] == "status" and e["detail"]["to"] == "PAID"]) == 1


def test_refund_notified_across_processes(stack: Stack) -> None:
    auth, openid = stack.shopper()
    order = stack.order(auth, price_fen=900)
    assert stack.pay(auth, openid, order["id"]).status_code == 200
    wait_for(lambda: stack.status(auth, order["id"]) == "PAID")
    refund = stack.call("POST", f"/api/v1/admin/orders/{order['id']}/refunds", json={"amount_fen": 900},
                        headers=ADMIN, service=1)  # fmt: skip
    assert refund.status_code == 201, refund.text
    wait_for(lambda: stack.status(auth, order["id"]) == "REFUNDED")  # by the refund notification
