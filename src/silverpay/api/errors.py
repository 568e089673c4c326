"""Map the exception hierarchy to ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from silverpay.errors import (
    LoginCodeRejected,
    ProtocolError,
    RequestError,
    SilverpayError,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


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
        return error_response(status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors()
        )
        return error_response(422, "INVALID_REQUEST", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED"}.get(error.status_code, "HTTP_ERROR")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled %s", type(error).__name__)
        return error_response(500, "INTERNAL", "internal error")
