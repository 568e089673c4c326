"""The OpenAPI document: FastAPI's, plus what FastAPI cannot see — the answers the framework and
the body limits give on every route, and the WeChat-facing endpoints (plain Starlette routes).

Every status code the service answers is documented; tests/integration/test_api_fuzz.py holds the
document to that with generated requests.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from silverpay.api.schemas import ErrorOut

DESCRIPTIONS = {
    400: "Bad request: a body that cannot be decoded, or a value the service refuses",
    401: "Missing, invalid or expired token (`UNAUTHORIZED`, `TOKEN_EXPIRED`)",
    403: "Authenticated, but the operator's role does not allow this action (`FORBIDDEN`), or a session's "
    "request that changes something lacks its CSRF token (`CSRF_FAILED`)",
    404: "No such resource (also an id that is not a positive 64-bit integer)",
    408: "The request body did not arrive in time (`REQUEST_TIMEOUT`)",
    409: "The resource's state forbids it",
    413: "The request body is too large (`PAYLOAD_TOO_LARGE`)",
    429: "Too many failed attempts: locked for the seconds in `Retry-After` (`LOGIN_LOCKED`)",
    502: "WeChat refused the request or answered something unusable",
    503: "WeChat did not answer: the outcome is unknown, retry",
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the ``{"error": {"code", "message"}}`` body."""
    return {status: {"model": ErrorOut, "description": DESCRIPTIONS[status]} for status in statuses}


def throttled_response() -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry for 429 with its ``Retry-After`` header."""
    retry_after = {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}
    return {429: {"model": ErrorOut, "description": DESCRIPTIONS[429], "headers": {"Retry-After": retry_after}}}


def _add_framework_responses(operation: dict[str, Any]) -> None:
    """What the framework answers on its own: a body is parsed (400), capped (413) and timed (408)
    before the route runs; a bad path id is 404 (api.errors), so 422 only where something else
    (query, header, body) is validated."""
    responses: dict[str, Any] = operation["responses"]
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        for status in (400, 408, 413):
            responses.setdefault(str(status), {"description": DESCRIPTIONS[status], "content": {
                "application/json": {"schema": _ERROR_REF}}})  # fmt: skip
    if any(p["in"] == "path" for p in parameters):
        responses.setdefault("404", {"description": DESCRIPTIONS[404], "content": {
            "application/json": {"schema": _ERROR_REF}}})  # fmt: skip
    if "requestBody" not in operation and all(p["in"] == "path" for p in parameters):
        responses.pop("422", None)


def install(app: FastAPI, extra_paths: dict[str, Any]) -> None:
    """Replace ``app.openapi`` with the completed document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)  # fmt: skip
            for item in document["paths"].values():
                for operation in item.values():
                    _add_framework_responses(operation)
            document["paths"].update(extra_paths)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
