"""The operator console at ``/console/``: server-rendered pages (Jinja2) with htmx partial updates,
every asset served from :mod:`silverpay.console`'s static directory (no CDN, no Node build).

:func:`install` adds it to the service's app: the routes, the static files, ``/`` → ``/console/``,
and error pages instead of JSON for the console's paths.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from silverpay.errors import SilverpayError

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, *, timezone: str) -> None:
    from silverpay.console import routes
    from silverpay.console.auth import SignInRequired, login_url
    from silverpay.console.render import render, viewer_of

    app.state.console_timezone = timezone
    app.include_router(routes.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    async def sign_in(request: Request, error: Exception) -> Response:
        if not isinstance(error, SignInRequired):  # (registered for that class only)
            raise error
        url = login_url(error.next_path, expired=error.expired)
        if request.headers.get("hx-request") == "true":  # htmx follows redirects itself: make the page go
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    def html_for_console(kind: type[Exception]) -> None:
        """The JSON error handler of ``kind`` everywhere but under /console/, where errors are pages."""
        json_errors = app.exception_handlers[kind]

        async def console_errors(request: Request, error: Exception) -> Response:
            answer = json_errors(request, error)
            json_answer: Response = await answer if inspect.isawaitable(answer) else answer
            if not request.url.path.startswith("/console/"):
                return json_answer
            code, message = "INVALID_REQUEST", "a value in the address is not valid"
            if isinstance(error, SilverpayError):
                code, message = error.code, error.message
            status = json_answer.status_code
            return render(request, "error.html", viewer_of(request), status=status, error_status=status,
                          message=message, code=code)  # fmt: skip

        app.add_exception_handler(kind, console_errors)

    app.add_exception_handler(SignInRequired, sign_in)
    html_for_console(SilverpayError)
    html_for_console(RequestValidationError)
