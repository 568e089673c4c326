"""The console's sign-in (a session cookie) and the operator accounts (owner only)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from silverpay.api.deps import SESSION_COOKIE, Context, Owner, client_ip, current_operator
from silverpay.api.openapi import error_responses, throttled_response
from silverpay.api.schemas import PathId
from silverpay.api.schemas_console import (
    LoginRequest,
    OperatorCreate,
    OperatorOut,
    OperatorUpdate,
    SessionOut,
)
from silverpay.config import LOOPBACK_HOSTS
from silverpay.domain.operators import Operator, Role
from silverpay.errors import Unauthorized
from silverpay.service import operators

session_router = APIRouter(prefix="/api/v1/admin/session", tags=["operator"])
router = APIRouter(prefix="/api/v1/admin/operators", tags=["operator"], responses=error_responses(401, 403))


def _secure(request: Request) -> bool:
    """Secure unless configured otherwise, in demo mode, or served on this machine over plain http."""
    configured: bool | None = request.app.state.secure_cookie
    if configured is not None:
        return configured
    return not (request.app.state.demo_mode or request.url.hostname in LOOPBACK_HOSTS)


def _session_view(operator: Operator, csrf_token: str | None, idle_timeout_s: int) -> dict[str, Any]:
    identity = {"operator_id": operator.operator_id, "email": operator.email, "name": operator.name,
                "role": operator.role.label}  # fmt: skip
    return {"operator": identity, "csrf_token": csrf_token, "idle_timeout_s": idle_timeout_s}


@session_router.post("", response_model=SessionOut, responses={**error_responses(401), **throttled_response()})
async def login(body: LoginRequest, request: Request, response: Response, ctx: Context) -> dict[str, Any]:
    """Sign in with email and password: sets the session cookie (HttpOnly, SameSite=Strict) and
    answers the CSRF token that every later request changing something must carry as
    `X-CSRF-Token`. Wrong credentials: `LOGIN_FAILED` (401); after repeated failures for the
    account or the address: `LOGIN_LOCKED` (429, `Retry-After` seconds)."""
    signed_in = await operators.login(ctx, body.email, body.password, client_ip(request))
    response.set_cookie(SESSION_COOKIE, signed_in.session_token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")  # fmt: skip
    return _session_view(signed_in.operator, signed_in.csrf_token, ctx.operators.idle_timeout_s)


@session_router.get("", response_model=SessionOut, responses=error_responses(401))
async def who_am_i(
    operator: Annotated[Operator, Depends(current_operator)], ctx: Context, request: Request
) -> dict[str, Any]:
    """Who is signed in, and the session's CSRF token (null for the bearer token)."""
    session = request.cookies.get(SESSION_COOKIE)
    csrf = operators.csrf_token_for(session) if session and operator.operator_id is not None else None
    return _session_view(operator, csrf, ctx.operators.idle_timeout_s)


@session_router.delete("", status_code=204, responses=error_responses(403))
async def logout(request: Request, ctx: Context) -> Response:
    """Sign out: the session ends and its cookie is cleared. A live session must send its CSRF
    token (`X-CSRF-Token`); without a session (or with an ended one) there is nothing to do."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        with contextlib.suppress(Unauthorized):  # an ended session: nothing to check
            await current_operator(request, ctx, None, session)  # a live one's CSRF token is checked
        await operators.logout(ctx, session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


@router.get("", response_model=list[OperatorOut])
async def list_operators(ctx: Context, operator: Owner) -> list[dict[str, Any]]:
    """Every operator account (owner)."""
    return await operators.list_operators(ctx)


@router.post("", response_model=OperatorOut, status_code=201, responses=error_responses(400, 409))
async def create_operator(body: OperatorCreate, ctx: Context, operator: Owner) -> dict[str, Any]:
    """A new operator account (owner). `OPERATOR_EXISTS` (409) if the email has one."""
    return await operators.create_operator(ctx, body.email, body.password, Role.named(body.role), actor=operator)


@router.get("/{operator_id}", response_model=OperatorOut, responses=error_responses(404))
async def get_operator(operator_id: PathId, ctx: Context, operator: Owner) -> dict[str, Any]:
    """One operator account (owner)."""
    return await operators.get_operator(ctx, operator_id)


@router.patch("/{operator_id}", response_model=OperatorOut, responses=error_responses(400, 404, 409))
async def update_operator(operator_id: PathId, body: OperatorUpdate, ctx: Context, operator: Owner) -> dict[str, Any]:
    """Change an account's role, disable or enable it, or set its password (owner). Disabling it
    or setting its password ends its sessions; an owner cannot disable or demote themselves."""
    role = Role.named(body.role) if body.role is not None else None
    return await operators.update_operator(ctx, operator_id, actor=operator, role=role, disabled=body.disabled,
                                           password=body.password)  # fmt: skip
