"""Mini-program login (code → openid → user → token) and token verification."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import jwt

from silverpay.clock import utc
from silverpay.errors import Unauthorized
from silverpay.service.context import ServiceContext
from silverpay.store import repo
from silverpay.store.models import User

log = logging.getLogger(__name__)
ISSUER = "silverpay"
AUDIENCE = "miniprogram"


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: float
    user: User
    created: bool


def issue_token(user_id: int, *, now: float, ttl_s: int, secret: str) -> tuple[str, float]:
    expires_at = int(now) + ttl_s
    claims = {"sub": str(user_id), "iat": int(now), "exp": expires_at, "iss": ISSUER, "aud": AUDIENCE}
    return jwt.encode(claims, secret, algorithm="HS256"), float(expires_at)


def verify_token(token: str, *, now: float, secret: str) -> int:
    """The user id in a valid, unexpired token; :class:`Unauthorized` otherwise (never says why in detail)."""
    try:
        # Expiry is checked against the injected clock below, not PyJWT's own.
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp", "sub", "iat"]},
        )  # fmt: skip
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise Unauthorized("invalid token") from None
    if now >= float(claims["exp"]):
        raise Unauthorized("token expired", code="TOKEN_EXPIRED")
    return user_id


async def wx_login(ctx: ServiceContext, code: str, nickname: str | None, avatar_url: str | None) -> LoginResult:
    session = await ctx.login.code2session(code)  # LoginCodeRejected / Upstream* propagate as typed errors
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        user, created = await repo.upsert_user(
            db, appid=ctx.appid, openid=session.openid, session_key=session.session_key,
            nickname=nickname, avatar_url=avatar_url, now=utc(now),
        )  # fmt: skip
    token, expires_at = issue_token(user.id, now=now, ttl_s=ctx.token_ttl_s, secret=ctx.jwt_secret)
    log.info("login user_id=%s created=%s", user.id, created)
    return LoginResult(token, expires_at, user, created)
