"""Bodies of the operator console's API: sessions, operator accounts, search and actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from silverpay.api.schemas import Strict, Text

RoleName = Literal["viewer", "support", "finance", "owner"]
Password = Text  # checked by the service (length); never echoed, never logged


class LoginRequest(Strict):
    email: Text = Field(min_length=1, max_length=254)
    password: Password = Field(min_length=1, max_length=1024)


class OperatorIdentity(BaseModel):
    """Who the caller is: a person (operator_id, email) or the machine token (operator_id null)."""

    operator_id: int | None
    email: str
    name: str
    role: RoleName


class SessionOut(BaseModel):
    operator: OperatorIdentity
    csrf_token: str | None = Field(description="send it as X-CSRF-Token with every request that changes "
                                   "something; null for the bearer token, which needs none")  # fmt: skip
    idle_timeout_s: int


class OperatorOut(BaseModel):
    id: int
    email: str
    role: RoleName
    disabled: bool
    created_at: str
    last_login_at: str | None
    locked_until: str | None


class OperatorCreate(Strict):
    email: Text = Field(min_length=3, max_length=254)
    role: RoleName
    password: Password = Field(min_length=10, max_length=1024)


class OperatorUpdate(Strict):
    role: RoleName | None = None
    disabled: bool | None = None
    password: Password | None = Field(None, min_length=10, max_length=1024)


class ReviewResolve(Strict):
    note: Text = Field(min_length=1, max_length=500)


class ReconciliationRerun(Strict):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="the bill's Beijing date, YYYY-MM-DD")


class OrderPage(BaseModel):
    items: list[dict[str, Any]]
    total: int = Field(description="orders matching the filters")
    amount_fen: int = Field(description="sum of amount_fen over the orders matching the filters")
    paid_fen: int = Field(description="sum over the matching orders that were paid (any refund state)")
    page: int
    per_page: int
