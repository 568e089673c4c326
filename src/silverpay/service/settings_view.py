"""The effective settings, as an owner may read them: every field of :class:`~silverpay.config.Settings`
with its value, except that a secret (a ``SecretStr`` field) shows only whether it is set, and a
database URL's password is hidden. Built from the model's fields, so a new setting shows up here
by itself, and a new secret (declared ``SecretStr``) is masked by itself."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from silverpay.config import Settings

SET, NOT_SET = "set", "not set"
# The first matching prefix names a field's group; the rest is "service".
GROUPS = (("wechat_msg_", "shipping"), ("shipping_", "shipping"), ("wechat_", "wechat"), ("notify_", "wechat"),
          ("refund_notify_", "wechat"), ("console_", "console"), ("admin_", "console"), ("db_", "database"),
          ("database_", "database"), ("worker_", "worker"), ("sweep_", "worker"), ("webhook_", "worker"),
          ("embedded_worker", "worker"))  # fmt: skip


def group_of(name: str) -> str:
    return next((group for prefix, group in GROUPS if name.startswith(prefix)), "service")


def without_password(url: str) -> str:
    """A database URL with its password (if any) as ``***``; text that is no URL is shown as not set/set."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return SET if url else NOT_SET


def _shown(name: str, value: Any) -> tuple[Any, bool]:
    if isinstance(value, SecretStr):
        return (SET if value.get_secret_value() else NOT_SET), True
    if name == "database_url":
        return without_password(value), False
    return value, False


def effective_settings(settings: Settings) -> list[dict[str, Any]]:
    """Each setting as ``{group, name, env, value, secret}``, then the values derived from them
    (the refund notify URL, the pool, the schedules); grouped, in the model's order."""
    rows = []
    for name in type(settings).model_fields:
        value, secret = _shown(name, getattr(settings, name))
        rows.append({"group": group_of(name), "name": name, "env": f"SILVERPAY_{name.upper()}", "value": value,
                     "secret": secret})  # fmt: skip
    pool = settings.pool()
    derived = {
        "effective_refund_notify_url": ("wechat", settings.effective_refund_notify_url),
        "effective_db_pool_size": ("database", pool.size),
        "effective_sweep_schedule_s": ("worker", list(settings.sweep_schedule)),
        "effective_shipping_retry_s": ("shipping", list(settings.shipping_retry_schedule)),
    }
    rows += [{"group": group, "name": name, "env": "", "value": value, "secret": False}
             for name, (group, value) in derived.items()]  # fmt: skip
    order = {group: i for i, group in enumerate(("service", "wechat", "database", "worker", "shipping", "console"))}
    return sorted(rows, key=lambda row: order[row["group"]])
