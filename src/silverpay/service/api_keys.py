"""API keys for merchant backends: ``sk_<prefix>_<secret>``, shown once, kept only as SHA-256.

The secret is 256 random bits, so a plain hash is the right store (a slow password hash protects
guessable secrets; these are not). The public prefix finds the row; the hash is compared in
constant time. A revoked key fails on its next request: every request reads the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silverpay.clock import utc
from silverpay.errors import InvalidRequest, NotFound, Unauthorized
from silverpay.store.models_integration import ApiKey

KEY_PREFIX = "sk_"
LAST_USED_RESOLUTION_S = 300  # last_used_at is written at most this often per key


@dataclass(frozen=True)
class MerchantKey:
    """Who calls the server-to-server API: one of the merchant's API keys."""

    id: int
    name: str


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(secret: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    if not secret.startswith(KEY_PREFIX):
        return None
    prefix, _, rest = secret[len(KEY_PREFIX) :].partition("_")
    return prefix if len(prefix) == 12 and len(rest) >= 32 else None


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": f"{KEY_PREFIX}{key.prefix}_…",
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
    }


async def create_api_key(
    sessions: async_sessionmaker[AsyncSession], name: str, *, now: float
) -> tuple[dict[str, Any], str]:
    """A new key: its view and the secret (the only time it exists outside the caller's hands)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidRequest("a key's name is 1 to 64 characters")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    async with sessions.begin() as db:
        key = ApiKey(name=name, prefix=prefix, secret_hash=secret_hash(secret), created_at=utc(now))
        db.add(key)
        await db.flush()
        return key_view(key), secret


async def list_api_keys(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as db:
        return [key_view(k) for k in (await db.execute(select(ApiKey).order_by(ApiKey.id))).scalars()]


async def revoke_api_key(sessions: async_sessionmaker[AsyncSession], ident: str, *, now: float) -> dict[str, Any]:
    """Revoke by id, prefix (``sk_<prefix>``) or name (if only one live key has it)."""
    async with sessions.begin() as db:
        query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
        if ident.isdigit():
            query = query.where(ApiKey.id == int(ident))
        elif ident.startswith(KEY_PREFIX):
            query = query.where(ApiKey.prefix == ident[len(KEY_PREFIX) :].split("_", maxsplit=1)[0])
        else:
            query = query.where(ApiKey.name == ident)
        found = list((await db.execute(query.with_for_update())).scalars())
        if not found:
            raise NotFound("no live API key matches", code="API_KEY_NOT_FOUND")
        if len(found) > 1:
            raise InvalidRequest("several live keys have that name: give the id or the prefix")
        found[0].revoked_at = utc(now)
        return key_view(found[0])


async def authenticate_key(sessions: async_sessionmaker[AsyncSession], secret: str, *, now: float) -> MerchantKey:
    """The live key this secret is, else Unauthorized (the same answer for every kind of wrong)."""
    prefix = _parse(secret)
    if prefix is None:
        raise Unauthorized("a valid API key is required")
    async with sessions() as db:
        key = (await db.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()
        valid = key is not None and hmac.compare_digest(key.secret_hash, secret_hash(secret))
        if key is None or not valid or key.revoked_at is not None:
            raise Unauthorized("a valid API key is required")
        stale = key.last_used_at is None or key.last_used_at < utc(now) - timedelta(seconds=LAST_USED_RESOLUTION_S)
        if stale:
            await db.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=utc(now)))
            await db.commit()
        return MerchantKey(key.id, key.name)
