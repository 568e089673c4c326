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
MAX_USER_ID = 2**63 - 1  # users.id is a BIGINT: a larger sub names no one (and would overflow the query)


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
        sub = claims["sub"]
        # Only what issue_token writes: ASCII digits (int() would also take " 7", "+7", "٧").
        if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and 1 <= int(sub) <= MAX_USER_ID):
            raise ValueError("sub is not a user id")
        user_id = int(sub)
    except (jwt.PyJWTError, ValueError):
        raise Unauthorized("invalid token") from None
    if now >= float(claims["exp"]):
        raise Unauthorized("token expired", code="TOKEN_EXPIRED")
    return user_id


async def authenticate(ctx: ServiceContext, token: str) -> int:
    """The id of the user a valid token names, if that user still exists.

    A token outlives nothing it names: a user deleted (by an operator: silverpay never deletes
    users) makes its tokens fail here with 401 rather than deeper with a foreign-key violation.
    One primary-key probe per authenticated request, deliberately not cached: a cache would let a
    deleted user's tokens work until it expired (in every process), and the probe is small beside
    what every authenticated route does anyway (its own transaction, often a call to WeChat).
    """
    user_id = verify_token(token, now=ctx.clock(), secret=ctx.jwt_secret)
    if not await ctx.ledger.user_exists(user_id):
        raise Unauthorized("invalid token")
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
