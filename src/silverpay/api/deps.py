"""Request-scoped dependencies: the service context, the calling user, the operator. All async:
a sync dependency would cost a hop to the thread pool on every request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from silverpay.domain.operators import Operator, Role
from silverpay.errors import Forbidden, Unauthorized
from silverpay.service.auth import authenticate
from silverpay.service.context import ServiceContext


async def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Context = Annotated[ServiceContext, Depends(context)]

# The two bearer schemes, named in the OpenAPI document; a missing or non-bearer header is our own 401.
_user_bearer = HTTPBearer(scheme_name="UserToken", description="`token` from /api/v1/auth/wx-login",
                          auto_error=False)  # fmt: skip
_admin_bearer = HTTPBearer(scheme_name="AdminToken", description="SILVERPAY_ADMIN_TOKEN", auto_error=False)


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("missing bearer token")
    return credentials.credentials.strip()


async def current_user_id(
    ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)]
) -> int:
    return await authenticate(ctx, _token(credentials))


async def current_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]
) -> Operator:
    expected: str = request.app.state.admin_token
    given = _token(credentials)
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("operator token required")
    return Operator(role=Role.OWNER)


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
