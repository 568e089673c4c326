"""Inputs that used to reach the database or the framework unguarded, on every backend: ids past
BIGINT, tokens naming no one, control characters in text; and the answers the framework gives
(405, unparseable bodies) in the API's own error shape, documented."""

from __future__ import annotations

import re
import time

import jwt
from sqlalchemy import delete
from starlette.routing import Match, Route

from silverpay.service.auth import AUDIENCE, ISSUER
from silverpay.store.models import User
from tests.service_harness import ADMIN, Harness

TOO_BIG = (2**63, 2**64, 10**30)  # the first id a signed 64-bit column cannot hold, and beyond
NOT_IDS = (*TOO_BIG, 0, -1)


def error_code(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


async def test_path_ids_out_of_range_are_404(svc: Harness) -> None:
    alice = await svc.shopper()
    for bad in NOT_IDS:
        user = [("GET", f"/api/v1/orders/{bad}", None), *(("POST", f"/api/v1/orders/{bad}/{a}", None) for a in
                                                          ("pay", "confirm", "cancel"))]  # fmt: skip
        operator = [("GET", f"/api/v1/admin/orders/{bad}", None), ("GET", f"/api/v1/admin/reconciliations/{bad}", None),
                    ("POST", f"/api/v1/admin/orders/{bad}/refunds", {"amount_fen": 1}),
                    ("PATCH", f"/api/v1/admin/products/{bad}", {"active": False})]  # fmt: skip
        for (method, path, body), headers in [*((call, alice.auth) for call in user),
                                              *((call, ADMIN) for call in operator)]:  # fmt: skip
            response = await svc.api.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert error_code(response).endswith("NOT_FOUND")


async def test_body_ids_out_of_range_are_422(svc: Harness) -> None:
    alice = await svc.shopper()
    for bad in NOT_IDS:
        response = await svc.api.post("/api/v1/orders", json={"product_id": bad}, headers=alice.auth)
        assert response.status_code == 422, (bad, response.text)
        assert error_code(response) == "INVALID_REQUEST" and "product_id" in response.json()["error"]["message"]


async def test_largest_id_is_a_plain_404(svc: Harness) -> None:
    alice = await svc.shopper()
    response = await svc.api.get(f"/api/v1/orders/{2**63 - 1}", headers=alice.auth)
    assert response.status_code == 404 and error_code(response) == "ORDER_NOT_FOUND"
    response = await svc.api.post("/api/v1/orders", json={"product_id": 2**63 - 1}, headers=alice.auth)
    assert response.status_code == 404 and error_code(response) == "PRODUCT_NOT_FOUND"


async def test_token_of_a_deleted_user_is_401(svc: Harness) -> None:
    alice = await svc.shopper()
    product = await svc.product_id()
    ctx = svc.api._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions.begin() as db:
        await db.execute(delete(User).where(User.id == alice.user_id))
    create = await svc.api.post("/api/v1/orders", json={"product_id": product}, headers=alice.auth)
    assert create.status_code == 401 and error_code(create) == "UNAUTHORIZED"
    listing = await svc.api.get("/api/v1/orders", headers=alice.auth)
    assert listing.status_code == 401


async def test_token_whose_sub_is_no_user_id_is_401(svc: Harness) -> None:
    """Signed with the service's own secret, so only the subject is wrong."""
    alice = await svc.shopper()
    product = await svc.product_id()
    now = int(time.time())
    good = str(alice.user_id)
    for sub in (str(2**63), str(2**64), "0", "-1", f" {good}", f"+{good}", "٧", "1e3", alice.user_id):
        claims = {"sub": sub, "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
        token = jwt.encode(claims, svc.settings.jwt_secret.get_secret_value(), algorithm="HS256")
        response = await svc.api.post("/api/v1/orders", json={"product_id": product},
                                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert response.status_code == 401, (sub, response.text)
        assert error_code(response) == "UNAUTHORIZED"


CONTROLS = ("\x00", "\x01", "\n", "\x1f", "\x7f", "\x85", "\x9f")


async def test_control_characters_in_text_fields_are_422(svc: Harness) -> None:
    alice = await svc.shopper()
    order = await svc.paid_order(alice, price_fen=300)
    product = order["product_id"]
    for control in CONTROLS:
        text = f"bad{control}name"
        attempts = [
            ("POST", "/api/v1/admin/products", {"name": text, "price_fen": 100}, ADMIN),
            ("PATCH", f"/api/v1/admin/products/{product}", {"name": text}, ADMIN),
            ("POST", f"/api/v1/admin/orders/{order['id']}/refunds", {"amount_fen": 1, "reason": text}, ADMIN),
            ("POST", "/api/v1/auth/wx-login", {"code": text}, {}),
            ("POST", "/api/v1/auth/wx-login", {"code": "c", "nickname": text}, {}),
            ("POST", "/api/v1/auth/wx-login", {"code": "c", "avatar_url": text}, {}),
        ]
        for method, path, body, headers in attempts:
            response = await svc.api.request(method, path, json=body, headers=headers)
            assert response.status_code == 422, (path, body, response.text)
            assert error_code(response) == "INVALID_REQUEST"
            assert "control characters" in response.json()["error"]["message"]
        # The Idempotency-Key header is text too (a header can carry C1 controls as Latin-1 bytes).
        if control not in "\x00\n":  # these cannot be sent in a header at all
            key = {"Idempotency-Key": f"k{control}".encode("latin-1")}
            response = await svc.api.post("/api/v1/orders", json={"product_id": product}, headers={**alice.auth, **key})
            assert response.status_code == 422, response.text
    # and nothing was written: no product took a name with a control character
    products = (await svc.api.get("/api/v1/admin/products", headers=ADMIN)).json()
    assert not [p for p in products if any(c in p["name"] for c in CONTROLS)]


async def test_printable_unicode_text_is_kept(svc: Harness) -> None:
    name = "咖啡 ☕ Crème brûlée\u200b"  # CJK, emoji, accents, a format character (not a control)
    response = await svc.api.post("/api/v1/admin/products", json={"name": name, "price_fen": 100}, headers=ADMIN)
    assert response.status_code == 201 and response.json()["name"] == name


async def test_405_names_every_allowed_method(svc: Harness) -> None:
    alice = await svc.shopper()
    cases = {
        ("DELETE", "/api/v1/orders"): {"GET", "POST"},  # two routes on one path: both named
        ("PUT", "/api/v1/orders/1"): {"GET"},
        ("GET", "/api/v1/orders/1/pay"): {"POST"},
        ("DELETE", "/api/v1/admin/products/1"): {"PATCH"},
        ("GET", "/api/v1/wechat/notify"): {"POST"},  # a plain Starlette route
        ("GET", "/api/v1/wechat/v3/notify"): {"POST"},
    }
    for (method, path), allowed in cases.items():
        response = await svc.api.request(method, path, headers=alice.auth)
        assert response.status_code == 405, (method, path)
        assert {m.strip() for m in response.headers["allow"].split(",")} == allowed, (method, path)
        assert error_code(response) == "METHOD_NOT_ALLOWED"
        for served in allowed:  # and each method named is served (whatever the answer, not a 405)
            assert (await svc.api.request(served, path, headers=alice.auth)).status_code != 405, (served, path)


async def test_unparseable_body_is_a_documented_400(svc: Harness) -> None:
    alice = await svc.shopper()
    response = await svc.api.post("/api/v1/orders", content=b'{"product_id": "\xff\xfe"}',
                                  headers={**alice.auth, "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400 and error_code(response) == "MALFORMED_REQUEST"
    document = svc.api._transport.app.openapi()  # type: ignore[attr-defined]
    assert "400" in document["paths"]["/api/v1/orders"]["post"]["responses"]


async def test_openapi_documents_every_route(svc: Harness) -> None:
    """Every operation in the document is served, and every plain Starlette route (FastAPI cannot
    see those: the WeChat endpoints) is in the document with each of its methods."""
    app = svc.api._transport.app  # type: ignore[attr-defined]
    document = app.openapi()
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in item:
            scope = {"type": "http", "path": concrete, "root_path": "", "method": method.upper()}
            assert any(route.matches(scope)[0] is Match.FULL for route in app.routes), (method, path)
    plain = [r for r in app.routes if type(r) is Route and r.path not in {"/openapi.json", "/docs", "/redoc",
                                                                          "/docs/oauth2-redirect"}]  # fmt: skip
    assert {r.path for r in plain} >= {"/api/v1/wechat/notify", "/api/v1/wechat/v3/notify"}
    for route in plain:
        assert {m.lower() for m in route.methods or ()} == set(document["paths"][route.path]), route.path
    served_document = (await svc.api.get("/openapi.json")).json()
    assert served_document == document
