"""Request-scoped dependencies: the service context, the calling user, the operator. All async:
a sync dependency would cost a hop to the thread pool on every request."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from silverpay.errors import Unauthorized
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


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]
) -> None:
    expected: str = request.app.state.admin_token
    given = _token(credentials)
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("operator token required")


UserId = Annotated[int, Depends(current_user_id)]
Admin = Depends(require_admin)
