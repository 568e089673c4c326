"""Who is signed in to the console: the session cookie (``operators.session_operator``, the same
session the JSON API accepts), the role each page or action needs, and the CSRF token every form
that changes something carries.

A page asked for without a live session redirects to the sign-in page; an action the role does not
allow is refused on the server (403), whatever the page showed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from silverpay.api.deps import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, Context, client_ip
from silverpay.api.routes.operators import _secure as secure_cookie
from silverpay.domain.operators import Operator, Role
from silverpay.errors import Forbidden, Unauthorized
from silverpay.service import operators

__all__ = ["CSRF_FIELD", "SESSION_COOKIE", "client_ip", "secure_cookie"]
MAX_FIELDS = 50


class SignInRequired(Exception):
    """Answered with a redirect to the sign-in page (``HX-Redirect`` for htmx)."""

    def __init__(self, next_path: str, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


@dataclass(frozen=True)
class SignedIn:
    operator: Operator
    session_token: str
    csrf: str


def login_url(next_path: str = "/console/", *, expired: bool = False) -> str:
    safe_next = next_path if next_path.startswith("/console/") else "/console/"
    return "/console/login?next=" + quote(safe_next, safe="/") + ("&expired=1" if expired else "")


async def form_of(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as single values (the body is read once and kept)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=MAX_FIELDS)
    return {name: values[0] for name, values in fields.items()}


async def session_of(request: Request, ctx: Context) -> SignedIn:
    token = request.cookies.get(SESSION_COOKIE, "")
    try:
        operator = await operators.session_operator(ctx, token, client_ip(request))
    except Unauthorized:
        next_path = request.url.path if request.method in SAFE_METHODS else request.headers.get("hx-current-url", "")
        raise SignInRequired(next_path or "/console/", expired=bool(token)) from None
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER) or (await form_of(request)).get(CSRF_FIELD)
        if not operators.csrf_ok(token, given):
            raise Forbidden("missing or wrong CSRF token: reload the page", code="CSRF_FAILED")
    return SignedIn(operator, token, operators.csrf_token_for(token))


def signed_in(role: Role) -> Callable[..., Awaitable[SignedIn]]:
    async def with_role(session: Annotated[SignedIn, Depends(session_of)]) -> SignedIn:
        if session.operator.role < role:
            raise Forbidden(f"role {role.label} required", code="FORBIDDEN")
        return session

    return with_role


AsViewer = Annotated[SignedIn, Depends(signed_in(Role.VIEWER))]
AsSupport = Annotated[SignedIn, Depends(signed_in(Role.SUPPORT))]
AsFinance = Annotated[SignedIn, Depends(signed_in(Role.FINANCE))]
AsOwner = Annotated[SignedIn, Depends(signed_in(Role.OWNER))]
