"""Map the exception hierarchy to ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from silverpay.errors import (
    LoginCodeRejected,
    ProtocolError,
    RequestError,
    SilverpayError,
    Throttled,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)


# Statuses Starlette and FastAPI raise themselves (routing, body parsing) and the request-body limits.
HTTP_CODES = {
    400: "MALFORMED_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
}


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> str:
    """Every method some route serves at this request's path. Starlette's own 405 names only the
    first route that matched the path (GET and POST on one path are two routes), so ask them all
    (FastAPI's included routers answer ``matches`` for the routes inside them)."""
    return ", ".join(
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    )


def status_for(error: SilverpayError) -> int:
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, LoginCodeRejected):
        return 400  # the user's code is bad: the mini-program should wx.login again
    if isinstance(error, UpstreamUnavailable):
        return 503
    if isinstance(error, UpstreamMisconfigured | UpstreamRejected | UpstreamError | ProtocolError):
        return 502
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(SilverpayError)
    async def _silverpay(_: Request, error: SilverpayError) -> JSONResponse:
        status = status_for(error)
        if status >= 500 and not isinstance(error, UpstreamError):
            log.error("internal error %s: %s", error.code, error.message)  # upstream ones were logged at source
        headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, Throttled) else None
        return error_response(status, error.code, error.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        if any(e["loc"][:1] == ("path",) for e in error.errors()):
            # An id that is out of range (or not a number) names nothing: the resource does not exist.
            return error_response(404, "NOT_FOUND", "no such resource")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors()
        )
        return error_response(422, "INVALID_REQUEST", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = allowed_methods(app.router.routes, request.scope)
        code = HTTP_CODES.get(error.status_code, "HTTP_ERROR")
        return error_response(error.status_code, code, str(error.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled %s", type(error).__name__)
        return error_response(500, "INTERNAL", "internal error")
