"""The operator console at ``/console/``: server-rendered pages (Jinja2) with htmx partial updates,
every asset served from :mod:`silverpay.console`'s static directory (no CDN, no Node build).

:func:`install` adds it to the service's app: the routes, the static files, ``/`` → ``/console/``,
and error pages instead of JSON for the console's paths.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from silverpay.errors import SilverpayError

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, *, timezone: str) -> None:
    from silverpay.api.errors import status_for
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
        assert isinstance(error, SignInRequired)
        url = login_url(error.next_path, expired=error.expired)
        if request.headers.get("hx-request") == "true":  # htmx follows redirects itself: make the page go
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    json_errors = app.exception_handlers[SilverpayError]

    async def console_errors(request: Request, error: Exception) -> Response:
        if not request.url.path.startswith("/console/"):
            answer = json_errors(request, error)
            return await answer if inspect.isawaitable(answer) else answer
        assert isinstance(error, SilverpayError)
        status = status_for(error)
        return render(request, "error.html", viewer_of(request), status=status, error_status=status,
                      message=error.message, code=error.code)  # fmt: skip

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(SilverpayError, console_errors)
