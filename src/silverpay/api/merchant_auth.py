"""The server-to-server API's caller: ``Authorization: Bearer sk_…`` (see service/api_keys.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from silverpay.api.deps import Context
from silverpay.errors import Unauthorized
from silverpay.service.api_keys import MerchantKey, authenticate_key

_key_bearer = HTTPBearer(scheme_name="ApiKey", description="`sk_…` from `silverpay admin create-api-key`",
                         auto_error=False)  # fmt: skip


async def current_key(
    ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_key_bearer)]
) -> MerchantKey:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("missing bearer token")
    return await authenticate_key(ctx.sessions, credentials.credentials.strip(), now=ctx.clock())


ApiCaller = Annotated[MerchantKey, Depends(current_key)]
