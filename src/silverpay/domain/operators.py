"""Operators: the merchant's people (and machines) acting on the operator API, and what each may do."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Role(enum.IntEnum):
    """Operator roles, each including the ones below it: viewer reads; support re-queries, closes and
    resends; finance refunds and resolves reviews and reconciliation; owner manages users, products
    and settings."""

    VIEWER = 1
    SUPPORT = 2
    FINANCE = 3
    OWNER = 4

    @classmethod
    def named(cls, name: str) -> Role:
        """The role called ``name`` (case-insensitive); ValueError for anything else."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: one of {', '.join(r.name.lower() for r in cls)}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


MACHINE = "admin-token"  # who the SILVERPAY_ADMIN_TOKEN bearer is in every record


@dataclass(frozen=True, slots=True)
class Operator:
    """Who acts on the operator API: a person (``operator_id`` and ``email`` set, signed in with a
    session) or the machine token (owner role). ``ip`` is where the request came from."""

    role: Role
    operator_id: int | None = None
    email: str = ""
    name: str = MACHINE
    ip: str = ""

    @property
    def is_machine(self) -> bool:
        return self.operator_id is None

    def audit(self) -> dict[str, Any]:
        """Who did it and from where, as written into every record of an operator action."""
        return {"operator_id": self.operator_id, "operator": self.email or self.name, "role": self.role.label,
                "ip": self.ip}  # fmt: skip
