"""API keys and the payments API (server-to-server), on every backend: auth, idempotency, the
same use cases as the mini-program (pay, confirm, cancel, refund)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from silverpay.service import api_keys
from tests.merchant import api_key, context, payment_body
from tests.service_harness import ADMIN, Harness
from tests.waiting import eventually


async def test_api_key_auth_and_revocation(svc: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = await api_key(svc)
    secret = headers["Authorization"].removeprefix("Bearer ")
    assert (await svc.api.get("/api/v1/payments", headers=headers)).status_code == 200
    for bad in ({}, {"Authorization": "Bearer sk_nothing"}, {"Authorization": headers["Authorization"] + "x"},
                {"Authorization": "Bearer " + secret[:-1] + ("A" if secret[-1] != "A" else "B")}):  # fmt: skip
        response = await svc.api.get("/api/v1/payments", headers=bad)
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED", bad
    # the operator token is not an API key
    assert (await svc.api.get("/api/v1/payments", headers=ADMIN)).status_code == 401
    keys = await api_keys.list_api_keys(context(svc).sessions)
    assert [k["name"] for k in keys] == ["backend"] and secret not in str(keys)
    await api_keys.revoke_api_key(context(svc).sessions, keys[0]["prefix"][:15], now=time.time())
    revoked = await svc.api.get("/api/v1/payments", headers=headers)
    assert revoked.status_code == 401
    assert secret not in caplog.text and secret not in revoked.text


async def test_payment_paid_through_the_same_use_cases(svc: Harness) -> None:
    headers = await api_key(svc)
    shopper = await svc.shopper()
    body = payment_body(shopper.openid, metadata={"cart": "42", "channel": "app"})
    created = await svc.api.post("/api/v1/payments", json=body, headers=headers)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["status"] == "CREATED" and payment["user_id"] == shopper.user_id
    assert payment["metadata"] == {"cart": "42", "channel": "app"} and payment["amount_fen"] == 1500
    params = await svc.api.post(f"/api/v1/payments/{payment['id']}/pay-params", headers=headers)
    assert params.status_code == 200 and params.json()["package"].startswith("prepay_id=")
    again = await svc.api.post(f"/api/v1/payments/{payment['id']}/pay-params", headers=headers)
    assert again.json()["package"] == params.json()["package"]  # prepay reused, as for the mini-program
    assert (await svc.wechat_pay(shopper, params.json())).status_code == 200
    confirmed = await svc.api.post(f"/api/v1/payments/{payment['id']}/confirm", headers=headers)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "PAID"
    found = await svc.api.get("/api/v1/payments", params={"merchant_order_no": body["merchant_order_no"]},
                              headers=headers)  # fmt: skip
    assert [p["id"] for p in found.json()] == [payment["id"]]
    # the shopper sees it among their orders (the same order), without a catalogue product
    mine = await svc.get(shopper, payment["id"])
    assert mine["status"] == "PAID" and mine["product_id"] is None
    refund = await svc.api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount_fen": 500},
                                headers={**headers, "Idempotency-Key": "r-1"})  # fmt: skip
    assert refund.status_code == 201, refund.text
    replay = await svc.api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount_fen": 500},
                                headers={**headers, "Idempotency-Key": "r-1"})  # fmt: skip
    assert replay.json()["out_refund_no"] == refund.json()["out_refund_no"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    await svc.advance(2)

    async def partially_refunded() -> bool:
        response = await svc.api.get(f"/api/v1/payments/{payment['id']}", headers=headers)
        return bool(response.json()["status"] == "PARTIALLY_REFUNDED")

    await eventually(partially_refunded)


async def test_openid_creates_the_user_once_and_user_id_is_checked(svc: Harness) -> None:
    headers = await api_key(svc)
    first = await svc.api.post("/api/v1/payments", json=payment_body("o-new-shopper"), headers=headers)
    second = await svc.api.post("/api/v1/payments", json=payment_body("o-new-shopper"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["user_id"] == second.json()["user_id"]
    by_user = {**payment_body("x"), "openid": None, "user_id": first.json()["user_id"]}
    by_id = await svc.api.post("/api/v1/payments", json=by_user, headers=headers)
    assert by_id.status_code == 201 and by_id.json()["user_id"] == first.json()["user_id"]
    missing = await svc.api.post("/api/v1/payments", json={**payment_body("x"), "openid": None, "user_id": 999999},
                                 headers=headers)  # fmt: skip
    assert missing.status_code == 404
    both = await svc.api.post("/api/v1/payments", json={**payment_body("x"), "user_id": 1}, headers=headers)
    assert both.status_code == 400
    too_much = {f"k{i}": "v" for i in range(21)}
    assert (await svc.api.post("/api/v1/payments", json=payment_body("x", metadata=too_much),
                               headers=headers)).status_code == 422  # fmt: skip


async def test_merchant_order_no_and_idempotency_key_semantics(svc: Harness) -> None:
    headers = await api_key(svc)
    body = payment_body("o-idem")
    first = await svc.api.post("/api/v1/payments", json=body, headers=headers)
    same = await svc.api.post("/api/v1/payments", json=body, headers=headers)
    assert first.status_code == 201 and same.status_code == 200 and same.json()["id"] == first.json()["id"]
    assert same.headers["Idempotent-Replayed"] == "true"
    different = await svc.api.post("/api/v1/payments", json={**body, "amount_fen": 1}, headers=headers)
    assert different.status_code == 409 and different.json()["error"]["code"] == "MERCHANT_ORDER_NO_USED"
    keyed = {**headers, "Idempotency-Key": "k-create"}
    other = payment_body("o-idem")
    a = await svc.api.post("/api/v1/payments", json=other, headers=keyed)
    b = await svc.api.post("/api/v1/payments", json=other, headers=keyed)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert b.headers["Idempotent-Replayed"] == "true"
    reused = await svc.api.post("/api/v1/payments", json=payment_body("o-idem"), headers=keyed)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # a key used on one route is another request on a different route
    cancel = await svc.api.post(f"/api/v1/payments/{a.json()['id']}/cancel", headers=keyed)
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    cancelled = await svc.api.post(f"/api/v1/payments/{a.json()['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "CLOSED"
    # a failed use case leaves no record: the retry runs again
    failed = await svc.api.post(f"/api/v1/payments/{a.json()['id']}/pay-params", headers={**headers,
                                "Idempotency-Key": "k-pay"})  # fmt: skip
    assert failed.status_code == 409 and failed.json()["error"]["code"] == "ORDER_CLOSED"
    retry = await svc.api.post(f"/api/v1/payments/{a.json()['id']}/pay-params", headers={**headers,
                               "Idempotency-Key": "k-pay"})  # fmt: skip
    assert retry.status_code == 409 and "Idempotent-Replayed" not in retry.headers
    assert (await svc.api.get("/api/v1/payments/999999", headers=headers)).status_code == 404
    catalogue = await svc.order(await svc.shopper())  # a mini-program order is not a payment of this API
    assert (await svc.api.get(f"/api/v1/payments/{catalogue['id']}", headers=headers)).status_code == 404


async def test_concurrent_twins_with_one_idempotency_key_create_one_payment(svc: Harness) -> None:
    headers = {**await api_key(svc), "Idempotency-Key": "twins"}
    body = payment_body("o-twins")
    answers = await asyncio.gather(*(svc.api.post("/api/v1/payments", json=body, headers=headers) for _ in range(4)))
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.json()["id"] == created[0].json()["id"] for a in created)
    others = [a for a in answers if a.status_code != 201]
    assert all(a.status_code in (200, 409) for a in others), [a.text for a in others]
    assert all(a.json()["error"]["code"] in ("IDEMPOTENCY_KEY_IN_USE", "MERCHANT_ORDER_NO_IN_USE")
               for a in others if a.status_code == 409)  # fmt: skip
    listed = await svc.api.get("/api/v1/payments", params={"merchant_order_no": body["merchant_order_no"]},
                               headers=headers)  # fmt: skip
    assert len(listed.json()) == 1
