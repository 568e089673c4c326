from __future__ import annotations

from fastapi import APIRouter

from silverpay.api.deps import Context
from silverpay.api.openapi import error_responses
from silverpay.api.schemas import WxLoginRequest, WxLoginResponse
from silverpay.service import auth
from silverpay.service.views import user_view

router = APIRouter(prefix="/api/v1/auth", tags=["mini-program"])


@router.post("/wx-login", response_model=WxLoginResponse, responses=error_responses(400, 502, 503))
async def wx_login(body: WxLoginRequest, ctx: Context) -> WxLoginResponse:
    """Exchange a `wx.login` code for a token. The WeChat session_key stays on the server."""
    result = await auth.wx_login(ctx, body.code, body.nickname, body.avatar_url)
    return WxLoginResponse.model_validate(
        {"token": result.token, "expires_at": int(result.expires_at), "user": user_view(result.user)}
    )
