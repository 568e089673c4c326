"""Access tokens (SHIPPING.md §1.7): getStableAccessToken and, to show why it is not used,
the legacy getAccessToken. The two families are isolated from each other, as WeChat's are.

- stable, normal mode: the same token while it has more than 5 minutes left; in its last 5
  minutes a new one (7200 s) while the old keeps working until it expires. So ``expires_in >= 300``.
- stable, ``force_refresh``: the current (and previous) token stop working at once and a new one is
  issued; 20 a Beijing day (then 45009), and a second one within 30 s of the last does not refresh
  (WeChat's "否则不会刷新"): the current token is answered.
- legacy: every call issues a new token; the previous one keeps working for 5 minutes only.
"""

from __future__ import annotations

import secrets

from silverpay.beijing import format_beijing
from silverpay.sim.config import SimConfig
from silverpay.sim.mp import errors as e
from silverpay.sim.mp.errors import MpError
from silverpay.sim.mp.store import IssuedToken, MpState, TokenFamily

TOKEN_TTL_S = 7200
RENEW_BEFORE_S = 300  # stable: renewed this early, both valid meanwhile; legacy: the old one's grace
FORCE_PER_DAY = 20
FORCE_MIN_GAP_S = 30
STABLE, LEGACY = "stable", "legacy"


def check_credentials(config: SimConfig, appid: str, secret: str, grant_type: str) -> None:
    if not grant_type:
        raise MpError(e.INVALID_GRANT_TYPE, "invalid grant_type")
    if not appid:
        raise MpError(e.APPID_MISSING, "appid missing")
    if not secret:
        raise MpError(e.APPSECRET_MISSING, "appsecret missing")
    if grant_type != "client_credential":
        raise MpError(e.INVALID_GRANT_TYPE, "invalid grant_type")
    app = config.apps.get(appid)
    if app is None:
        raise MpError(e.INVALID_APPID, "invalid appid")
    if not secrets.compare_digest(app.secret.encode(), secret.encode()):
        raise MpError(e.INVALID_APPSECRET, "invalid appsecret")


def _new(state: MpState, appid: str, family: str, now: float) -> IssuedToken:
    # Shaped like WeChat's: a numeric prefix, then url-safe characters, well over 100 of them.
    token = IssuedToken("86_" + secrets.token_urlsafe(96), appid, family, issued_at=now, expires_at=now + TOKEN_TTL_S)
    state.save_token(token)
    return token


def _family(state: MpState, appid: str, family: str) -> TokenFamily:
    return state.families.get(f"{appid}:{family}") or TokenFamily(appid, family)


def _revoke(state: MpState, value: str) -> None:
    token = state.tokens.get(value)
    if token is not None and not token.revoked:
        token.revoked = True
        state.save_token(token)


def stable_token(state: MpState, appid: str, now: float, *, force_refresh: bool) -> tuple[str, int]:
    """``(access_token, expires_in)`` for credentials already checked."""
    family = _family(state, appid, STABLE)
    current = state.tokens.get(family.current)
    if force_refresh:
        day = format_beijing(now)[:8]
        if family.force_day != day:
            family.force_day, family.force_count = day, 0
        recent = family.last_force_at is not None and now - family.last_force_at < FORCE_MIN_GAP_S
        if current is not None and recent and now < current.expires_at:
            return current.value, int(current.expires_at - now)  # too soon: not refreshed
        if family.force_count >= FORCE_PER_DAY:
            raise MpError(e.DAILY_QUOTA, "reach max api daily quota limit")
        family.force_count += 1
        family.last_force_at = now
        _revoke(state, family.current)
        _revoke(state, family.previous)
        fresh = _new(state, appid, STABLE, now)
        family.current, family.previous = fresh.value, ""
        state.save_family(family)
        return fresh.value, TOKEN_TTL_S
    if current is not None and not current.revoked and now < current.expires_at - RENEW_BEFORE_S:
        return current.value, int(current.expires_at - now)
    fresh = _new(state, appid, STABLE, now)
    # Renewed in the last 5 minutes: the old token works until it expires. Expired: nothing to keep.
    keep = current is not None and not current.revoked and now < current.expires_at
    family.current, family.previous = fresh.value, (current.value if keep and current else "")
    state.save_family(family)
    return fresh.value, TOKEN_TTL_S


def legacy_token(state: MpState, appid: str, now: float) -> tuple[str, int]:
    """getAccessToken: a new token every call; the one it replaces works 5 more minutes at most."""
    family = _family(state, appid, LEGACY)
    _revoke(state, family.previous)
    old = state.tokens.get(family.current)
    if old is not None and not old.revoked:
        old.expires_at = min(old.expires_at, now + RENEW_BEFORE_S)
        state.save_token(old)
    fresh = _new(state, appid, LEGACY, now)
    family.current, family.previous = fresh.value, (old.value if old else "")
    state.save_family(family)
    return fresh.value, TOKEN_TTL_S


def appid_of(state: MpState, access_token: str, now: float) -> str:
    """The appid a token was issued to; 41001 missing, 40001 unknown or invalidated, 42001 expired."""
    if not access_token:
        raise MpError(e.ACCESS_TOKEN_MISSING, "access_token missing")
    token = state.tokens.get(access_token)
    if token is None or token.revoked:
        raise MpError(e.INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
    if now >= token.expires_at:
        raise MpError(e.ACCESS_TOKEN_EXPIRED, "access_token expired")
    return token.appid
