"""Request-scoped dependencies: the service context, the calling user, the operator. All async:
a sync dependency would cost a hop to the thread pool on every request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from silverpay.domain.operators import Operator, Role
from silverpay.errors import Forbidden, Unauthorized
from silverpay.service import operators
from silverpay.service.auth import authenticate
from silverpay.service.context import ServiceContext


async def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Context = Annotated[ServiceContext, Depends(context)]

# The two bearer schemes, named in the OpenAPI document; a missing or non-bearer header is our own 401.
_user_bearer = HTTPBearer(scheme_name="UserToken", description="`token` from /api/v1/auth/wx-login",
                          auto_error=False)  # fmt: skip
_admin_bearer = HTTPBearer(
    scheme_name="AdminToken",
    auto_error=False,
    description="SILVERPAY_ADMIN_TOKEN: for machines (scripts, monitoring); the owner role",
)


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("missing bearer token")
    return credentials.credentials.strip()


async def current_user_id(
    ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)]
) -> int:
    return await authenticate(ctx, _token(credentials))


SESSION_COOKIE = "silverpay_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the same token as a field of an HTML form (application/x-www-form-urlencoded)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, scheme_name="OperatorSession", auto_error=False,
    description="The console's session cookie, set by `POST /api/v1/admin/session`. A request that changes "
    f"anything must also carry the session's CSRF token in the `{CSRF_HEADER}` header (or a `{CSRF_FIELD}` "
    "form field).",
)  # fmt: skip


def client_ip(request: Request) -> str:
    """The address the request came from (as the server saw it; behind a proxy, run uvicorn with
    --forwarded-allow-ips so this is the client's)."""
    return request.client.host if request.client else ""


async def _csrf_given(request: Request) -> str | None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=100)
        given = next(iter(fields.get(CSRF_FIELD, [])), None)
    return given


async def current_operator(
    request: Request, ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)],
    session: Annotated[str | None, Depends(_session_cookie)],
) -> Operator:  # fmt: skip
    """The machine token as a bearer (the owner role), or a person's console session: a session's
    request that changes anything must carry its CSRF token (``CSRF_FAILED``, 403, otherwise)."""
    ip = client_ip(request)
    if credentials is not None or not session:
        expected: str = request.app.state.admin_token
        given = _token(credentials)
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("operator token required")
        return Operator(role=Role.OWNER, ip=ip)
    operator = await operators.session_operator(ctx, session, ip)
    if request.method not in SAFE_METHODS and not operators.csrf_ok(session, await _csrf_given(request)):
        raise Forbidden(f"missing or wrong CSRF token ({CSRF_HEADER} header)", code="CSRF_FAILED")
    return operator


def require(role: Role) -> Callable[..., Awaitable[Operator]]:
    """A dependency admitting operators of `role` or above; the server enforces it on every action."""

    async def operator_with_role(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if operator.role < role:
            raise Forbidden(f"role {role.name.lower()} required")
        return operator

    return operator_with_role


UserId = Annotated[int, Depends(current_user_id)]
Admin = Depends(require(Role.VIEWER))
Viewer = Annotated[Operator, Depends(require(Role.VIEWER))]
Support = Annotated[Operator, Depends(require(Role.SUPPORT))]
Finance = Annotated[Operator, Depends(require(Role.FINANCE))]
Owner = Annotated[Operator, Depends(require(Role.OWNER))]
