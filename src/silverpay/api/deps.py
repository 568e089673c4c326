"""Request-scoped dependencies: the service context, the calling user, the operator. All async:
a sync dependency would cost a hop to the thread pool on every request."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from silverpay.errors import Unauthorized
from silverpay.service.auth import verify_token
from silverpay.service.context import ServiceContext


async def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Context = Annotated[ServiceContext, Depends(context)]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    return token.strip()


async def current_user_id(request: Request, ctx: Context) -> int:
    return verify_token(_bearer(request), now=ctx.clock(), secret=ctx.jwt_secret)


async def require_admin(request: Request) -> None:
    expected: str = request.app.state.admin_token
    given = _bearer(request)
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("operator token required")


UserId = Annotated[int, Depends(current_user_id)]
Admin = Depends(require_admin)
