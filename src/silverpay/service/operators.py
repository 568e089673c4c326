"""Operator accounts and their browser sessions: create, change, disable, sign in, sign out.

Passwords are argon2id hashes (argon2-cffi), hashed and verified in a worker thread so the event
loop keeps serving; a password is never logged, stored in clear or put in an error. A session is a
random token in an HttpOnly cookie; only its SHA-256 is stored, and its CSRF token is an HMAC of it
(nothing more to store). Failed sign-ins are counted per account and per client address: reaching
the limit locks that key for a while (``LOGIN_LOCKED``, with the seconds to wait).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import Clock, utc
from silverpay.domain.operators import Operator, Role
from silverpay.errors import Conflict, InvalidRequest, NotFound, Throttled, Unauthorized
from silverpay.service import audit
from silverpay.service.context import OperatorPolicy
from silverpay.store.models_console import LoginThrottle, OperatorAccount, OperatorSession

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_EMAIL = 254
SEEN_GRANULARITY_S = 10  # last_seen_at is written at most this often per session
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


class Accounts(Protocol):
    """What these use cases need: a :class:`~silverpay.service.context.ServiceContext` has it, and
    so does the admin command's :class:`AccountsOnly`, which needs no WeChat credentials."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def operators(self) -> OperatorPolicy: ...


@dataclass(frozen=True)
class AccountsOnly:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    operators: OperatorPolicy = field(default_factory=OperatorPolicy)


class Login(NamedTuple):
    """A successful sign-in: who, the session token (the cookie's value) and its CSRF token."""

    operator: Operator
    session_token: str
    csrf_token: str


# Passwords and tokens ------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise InvalidRequest("not an email address", code="INVALID_EMAIL")
    return value


def check_password(password: str) -> None:
    """The rule for a new password: long enough to resist guessing, short enough to hash."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="WEAK_PASSWORD")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


@functools.cache
def _decoy_hash() -> str:
    """Verified against when the account does not exist, so that costs the same time as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The session's CSRF token: only a holder of the session token can compute it."""
    return hmac.new(session_token.encode(), b"silverpay console csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token_for(session_token).encode(), (given or "").encode())


# Accounts ----------------------------------------------------------------------------------------


def as_operator(account: OperatorAccount, ip: str = "") -> Operator:
    return Operator(role=Role.named(account.role), operator_id=account.id, email=account.email, name=account.email,
                    ip=ip)  # fmt: skip


def operator_view(account: OperatorAccount, locked_until: datetime | None = None) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": account.email,
        "role": account.role,
        "disabled": account.disabled,
        "created_at": account.created_at.isoformat(),
        "last_login_at": account.last_login_at.isoformat() if account.last_login_at else None,
        "locked_until": locked_until.isoformat() if locked_until else None,
    }  # never the hash


def _account_key(email: str) -> str:
    return "account:" + email


def _ip_key(ip: str) -> str:
    return "ip:" + ip


async def _by_email(db: AsyncSession, email: str, *, lock: bool = False) -> OperatorAccount | None:
    query = select(OperatorAccount).where(OperatorAccount.email == email)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db.execute(query)).scalar_one_or_none()


async def _account(db: AsyncSession, operator_id: int) -> OperatorAccount:
    account = await db.get(OperatorAccount, operator_id, with_for_update=True, populate_existing=True)
    if account is None:
        raise NotFound("no such operator", code="OPERATOR_NOT_FOUND")
    return account


async def _lock_of(db: AsyncSession, email: str, now: float) -> datetime | None:
    throttle = await db.get(LoginThrottle, _account_key(email))
    locked = throttle.locked_until if throttle else None
    return locked if locked is not None and locked.timestamp() > now else None


async def create_operator(ctx: Accounts, email: str, password: str, role: Role, *, actor: Operator) -> dict[str, Any]:
    """A new account; ``OPERATOR_EXISTS`` (409) if the email has one already."""
    email = normalise_email(email)
    check_password(password)
    password_hash = await hash_password(password)
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as db:
            account = OperatorAccount(email=email, role=role.label, password_hash=password_hash, disabled=False,
                                      created_at=utc(now), updated_at=utc(now))  # fmt: skip
            db.add(account)
            await db.flush()
            audit.record(db, actor, "operator.create", f"operator:{account.id}", {"email": email, "to": role.label},
                         now=now)  # fmt: skip
    except IntegrityError:
        raise Conflict("an operator with this email exists", code="OPERATOR_EXISTS") from None
    log.info("operator created id=%s role=%s by %s", account.id, role.label, actor.email or actor.name)
    return operator_view(account)


async def list_operators(ctx: Accounts) -> list[dict[str, Any]]:
    now = ctx.clock()
    async with ctx.sessions() as db:
        accounts = (await db.execute(select(OperatorAccount).order_by(OperatorAccount.id))).scalars().all()
        keys = [_account_key(a.email) for a in accounts]
        locks = {t.key: t.locked_until for t in (await db.execute(
            select(LoginThrottle).where(LoginThrottle.key.in_(keys)))).scalars()} if keys else {}  # fmt: skip
    return [operator_view(a, _current(locks.get(_account_key(a.email)), now)) for a in accounts]


def _current(locked_until: datetime | None, now: float) -> datetime | None:
    return locked_until if locked_until is not None and locked_until.timestamp() > now else None


async def get_operator(ctx: Accounts, operator_id: int) -> dict[str, Any]:
    async with ctx.sessions() as db:
        account = await db.get(OperatorAccount, operator_id)
        if account is None:
            raise NotFound("no such operator", code="OPERATOR_NOT_FOUND")
        return operator_view(account, await _lock_of(db, account.email, ctx.clock()))


async def operator_id_of(ctx: Accounts, email: str) -> int:
    """The id of the account with this email (``OPERATOR_NOT_FOUND`` otherwise)."""
    async with ctx.sessions() as db:
        account = await _by_email(db, normalise_email(email))
    if account is None:
        raise NotFound("no operator with this email", code="OPERATOR_NOT_FOUND")
    return account.id


async def update_operator(
    ctx: Accounts, operator_id: int, *, actor: Operator, role: Role | None = None,
    disabled: bool | None = None, password: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Change an account's role, enable or disable it, or set its password. Disabling it or setting
    its password signs it out everywhere (and lifts a lock); nobody demotes or disables themselves."""
    if password is not None:
        check_password(password)
    password_hash = await hash_password(password) if password is not None else None
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        account = await _account(db, operator_id)
        if actor.operator_id == account.id and (disabled or (role is not None and role < Role.OWNER)):
            raise Conflict("you cannot disable or demote your own account", code="OPERATOR_SELF_CHANGE")
        changes: dict[str, Any] = {}
        if role is not None and role.label != account.role:
            changes["role"] = {"from": account.role, "to": role.label}
            account.role = role.label
        if disabled is not None and disabled != account.disabled:
            changes["disabled"] = {"from": account.disabled, "to": disabled}
            account.disabled = disabled
        if password_hash is not None:
            changes["password_changed"] = True  # never the password or its hash
            account.password_hash = password_hash
            await db.execute(delete(LoginThrottle).where(LoginThrottle.key == _account_key(account.email)))
        if account.disabled or password_hash is not None:
            await db.execute(delete(OperatorSession).where(OperatorSession.operator_id == account.id))
        if changes:
            account.updated_at = utc(now)
            audit.record(db, actor, "operator.update", f"operator:{account.id}", {"email": account.email, **changes},
                         now=now)  # fmt: skip
        return operator_view(account, await _lock_of(db, account.email, now))


async def set_password(ctx: Accounts, email: str, password: str, *, actor: Operator) -> dict[str, Any]:
    return await update_operator(ctx, await operator_id_of(ctx, email), actor=actor, password=password)


async def disable(ctx: Accounts, email: str, *, actor: Operator) -> dict[str, Any]:
    return await update_operator(ctx, await operator_id_of(ctx, email), actor=actor, disabled=True)


async def count_owners(ctx: Accounts) -> int:
    """Enabled owner accounts (the demo creates one when there is none)."""
    query = select(func.count()).select_from(OperatorAccount).where(
        OperatorAccount.role == Role.OWNER.label, OperatorAccount.disabled.is_(False))  # fmt: skip
    async with ctx.sessions() as db:
        return int((await db.execute(query)).scalar_one())


async def ensure_owner(ctx: Accounts, email: str, password: str, *, actor: Operator) -> dict[str, Any]:
    """An enabled owner account with this email and password, whether it existed or not (the demo's)."""
    try:
        return await create_operator(ctx, email, password, Role.OWNER, actor=actor)
    except Conflict:
        return await update_operator(ctx, await operator_id_of(ctx, email), actor=actor, role=Role.OWNER,
                                     disabled=False, password=password)  # fmt: skip


# Signing in --------------------------------------------------------------------------------------


async def login(ctx: Accounts, email: str, password: str, ip: str) -> Login:
    """Check the password and open a session. A wrong password, an unknown or a disabled account
    all answer ``LOGIN_FAILED`` (401) alike; a locked account or address answers ``LOGIN_LOCKED``
    (429) with the seconds to wait, without looking at the password.

    The attempt is counted (under the throttle rows' lock) before the password is verified, so
    guesses sent in parallel get no more verifications than guesses sent one after another; a
    right password then takes its count back."""
    email = email.strip().lower()[:MAX_EMAIL]
    ip = ip[:64]
    attempt = await _count_attempt(ctx, email, ip)
    async with ctx.sessions() as db:
        account = await _by_email(db, email)
    ok = await verify_password(account.password_hash if account else _decoy_hash(), password)
    if account is None or account.disabled or not ok:
        log.info("operator sign-in failed (%s)", "unknown account" if account is None else "refused")
        _refuse_if_locked(attempt.locks, attempt.now)
        raise Unauthorized("wrong email or password", code="LOGIN_FAILED")
    token = secrets.token_urlsafe(32)
    now = ctx.clock()
    rehash = await hash_password(password) if _hasher.check_needs_rehash(account.password_hash) else None
    async with ctx.sessions.begin() as db:
        account = await _account(db, account.id)
        await db.execute(delete(LoginThrottle).where(LoginThrottle.key == _account_key(email)))
        address = await db.get(LoginThrottle, _ip_key(ip), with_for_update=True, populate_existing=True)
        if address is not None:  # not a failure after all
            address.failures = max(address.failures - 1, 0)
            if attempt.locked_address and address.locked_until == attempt.locked_address:
                address.locked_until = None
        stale = utc(now - ctx.operators.idle_timeout_s)
        await db.execute(delete(OperatorSession).where(OperatorSession.operator_id == account.id,
                                                       OperatorSession.last_seen_at < stale))  # fmt: skip
        db.add(OperatorSession(id=session_id(token), operator_id=account.id, created_at=utc(now),
                               last_seen_at=utc(now), ip=ip))  # fmt: skip
        account.last_login_at = utc(now)
        if rehash is not None:
            account.password_hash = rehash
        operator = as_operator(account, ip)
    log.info("operator signed in id=%s", operator.operator_id)
    return Login(operator, token, csrf_token_for(token))


def _refuse_if_locked(locks: list[datetime | None], now: float) -> None:
    until = max((lock.timestamp() for lock in locks if lock is not None), default=0.0)
    if until > now:
        wait = int(until - now + 0.999)
        raise Throttled(f"too many failed sign-ins: try again in {wait} s", retry_after_s=wait, code="LOGIN_LOCKED")


@dataclass(frozen=True)
class _Attempt:
    now: float
    locks: list[datetime | None]  # the keys' locks after counting this attempt
    locked_address: datetime | None  # the address lock this attempt set, if it did


async def _count_attempt(ctx: Accounts, email: str, ip: str) -> _Attempt:
    """Refuse a locked account or address (``LOGIN_LOCKED``); else count the attempt as a failure
    against both (one transaction, the rows locked in key order: SELECT … FOR UPDATE, on SQLite
    BEGIN IMMEDIATE), the one reaching its limit locking."""
    policy = ctx.operators
    now = ctx.clock()
    address_key = _ip_key(ip)
    async with ctx.sessions.begin() as db:
        limits = sorted([(_account_key(email), policy.max_failures), (address_key, policy.max_ip_failures)])
        throttles = [(await _throttle(db, key, now), limit) for key, limit in limits]
        _refuse_if_locked([t.locked_until for t, _ in throttles], now)  # (rolls back: nothing counted)
        locked_address = None
        for throttle, limit in throttles:
            stale = throttle.first_failure_at.timestamp() + policy.lock_s <= now
            expired = throttle.locked_until is not None and throttle.locked_until.timestamp() <= now
            if stale or expired:  # a new window
                throttle.failures, throttle.first_failure_at, throttle.locked_until = 0, utc(now), None
            throttle.failures += 1
            if throttle.failures >= limit and throttle.locked_until is None:
                throttle.locked_until = utc(now + policy.lock_s)
                if throttle.key == address_key:
                    locked_address = throttle.locked_until
                log.warning("operator sign-in locked for %s s after %s attempts (%s)", policy.lock_s,
                            throttle.failures, throttle.key.split(":", 1)[0])  # fmt: skip
        locks = [t.locked_until for t, _ in throttles]
    return _Attempt(now, locks, locked_address)


async def _throttle(db: AsyncSession, key: str, now: float) -> LoginThrottle:
    throttle = await db.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    if throttle is not None:
        return throttle
    throttle = LoginThrottle(key=key, failures=0, first_failure_at=utc(now), locked_until=None)
    try:
        async with db.begin_nested():
            db.add(throttle)
        return throttle
    except IntegrityError:  # a concurrent failure inserted it first; a locking read sees its row
        found = await db.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        if found is None:  # inserted by another attempt, then cleared by a right password: count afresh
            return await _throttle(db, key, now)
        return found


async def session_operator(ctx: Accounts, token: str, ip: str = "") -> Operator:
    """The operator signed in with this session token. Unknown, idle past the timeout, too old, or
    of a disabled account: ``SESSION_EXPIRED`` (401), and the session is gone. Refreshes last_seen_at."""
    if not token or len(token) > 200:
        raise Unauthorized("not signed in", code="SESSION_EXPIRED")
    now = ctx.clock()
    sid = session_id(token)
    async with ctx.sessions() as db:
        found = (await db.execute(select(OperatorSession, OperatorAccount).join(
            OperatorAccount, OperatorAccount.id == OperatorSession.operator_id).where(
            OperatorSession.id == sid))).first()  # fmt: skip
    if found is None:
        raise Unauthorized("not signed in, or the session has ended", code="SESSION_EXPIRED")
    session, account = found
    idle = now - session.last_seen_at.timestamp()
    policy = ctx.operators
    if account.disabled or idle > policy.idle_timeout_s or now - session.created_at.timestamp() > policy.max_age_s:
        async with ctx.sessions.begin() as db:
            await db.execute(delete(OperatorSession).where(OperatorSession.id == sid))
        raise Unauthorized("the session has ended: sign in again", code="SESSION_EXPIRED")
    if idle >= SEEN_GRANULARITY_S:
        async with ctx.sessions.begin() as db:
            row = await db.get(OperatorSession, sid)
            if row is not None:
                row.last_seen_at = utc(now)
    return as_operator(account, ip)


async def logout(ctx: Accounts, token: str) -> None:
    """End the session (nothing happens for one that has ended already)."""
    async with ctx.sessions.begin() as db:
        await db.execute(delete(OperatorSession).where(OperatorSession.id == session_id(token)))
