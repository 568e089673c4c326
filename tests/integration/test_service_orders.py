"""Creating, reading and isolating orders; idempotent create, per backend."""

from __future__ import annotations

import asyncio
import uuid

from tests.service_harness import ADMIN, Harness


async def test_server_prices_the_order(svc: Harness) -> None:
    alice = await svc.shopper()
    product = await svc.product_id(price_fen=333)
    response = await svc.api.post("/api/v1/orders", json={"product_id": product, "quantity": 3}, headers=alice.auth)
    assert response.status_code == 201
    assert response.json()["amount_fen"] == 999
    # A client-sent amount is refused outright, not ignored silently.
    sneaky = {"product_id": product, "quantity": 1, "amount_fen": 1}
    assert (await svc.api.post("/api/v1/orders", json=sneaky, headers=alice.auth)).status_code == 422


async def test_bad_order_requests(svc: Harness) -> None:
    alice = await svc.shopper()
    product = await svc.product_id()
    for body in ({"product_id": product, "quantity": 0}, {"product_id": product, "quantity": 100},
                 {"product_id": product, "quantity": "2"}, {"product_id": "1"}, {}):  # fmt: skip
        response = await svc.api.post("/api/v1/orders", json=body, headers=alice.auth)
        assert response.status_code == 422, body
    missing = await svc.api.post("/api/v1/orders", json={"product_id": 999999}, headers=alice.auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PRODUCT_NOT_FOUND"
    await svc.api.patch(f"/api/v1/admin/products/{product}", json={"active": False}, headers=ADMIN)
    inactive = await svc.api.post("/api/v1/orders", json={"product_id": product}, headers=alice.auth)
    assert inactive.status_code == 404


async def test_orders_are_private(svc: Harness) -> None:
    alice, bob = await svc.shopper(), await svc.shopper()
    order = await svc.order(alice)
    for method, path in (("GET", ""), ("POST", "/pay"), ("POST", "/confirm"), ("POST", "/cancel")):
        response = await svc.api.request(method, f"/api/v1/orders/{order['id']}{path}", headers=bob.auth)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "ORDER_NOT_FOUND"
    assert [o["id"] for o in (await svc.api.get("/api/v1/orders", headers=alice.auth)).json()] == [order["id"]]
    assert (await svc.api.get("/api/v1/orders", headers=bob.auth)).json() == []
    assert (await svc.get(alice, order["id"]))["status"] == "CREATED"


async def test_idempotent_create(svc: Harness) -> None:
    alice, bob = await svc.shopper(), await svc.shopper()
    product = await svc.product_id()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"product_id": product, "quantity": 2}
    first = await svc.api.post("/api/v1/orders", json=body, headers={**alice.auth, **key})
    again = await svc.api.post("/api/v1/orders", json=body, headers={**alice.auth, **key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await svc.api.post("/api/v1/orders", json={**body, "quantity": 3}, headers={**alice.auth, **key})
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # keys are per user
    bobs = await svc.api.post("/api/v1/orders", json=body, headers={**bob.auth, **key})
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]
    assert len((await svc.api.get("/api/v1/orders", headers=alice.auth)).json()) == 1


async def test_concurrent_creates_with_one_key_make_one_order(svc: Harness) -> None:
    alice = await svc.shopper()
    product = await svc.product_id()
    headers = {**alice.auth, "Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(svc.api.post("/api/v1/orders", json={"product_id": product}, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    assert len((await svc.api.get("/api/v1/orders", headers=alice.auth)).json()) == 1


async def test_products_catalogue(svc: Harness) -> None:
    product = await svc.product_id(price_fen=4321)
    listed = (await svc.api.get("/api/v1/products")).json()
    assert {"id": product, "name": "p4321", "price_fen": 4321, "active": True, "auto_ship_virtual": False} in listed
    bad = await svc.api.post("/api/v1/admin/products", json={"name": "x", "price_fen": 12.5}, headers=ADMIN)
    assert bad.status_code == 422
    assert (await svc.api.post("/api/v1/admin/products", json={"name": "x", "price_fen": 1})).status_code == 401
