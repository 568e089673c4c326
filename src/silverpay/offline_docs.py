"""The API docs pages with no internet: `/docs` (Swagger UI) and `/redoc` (ReDoc) load their scripts
and styles from this server — the copies the fastapi-offline package (PyPI, MIT) bundles — never
from a CDN. Used by the service and the simulator."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline

ASSETS = "/static-offline-docs"  # where fastapi-offline mounts its files
# ReDoc's attribution shows a logo from its CDN: the page may show images of this server only.
REDOC_POLICY = "img-src 'self' data:"


def offline_docs_app(**kwargs: Any) -> FastAPI:
    """``FastAPI(**kwargs)`` whose /docs and /redoc work offline."""
    app = FastAPIOffline(redoc_url=None, static_url=ASSETS, **kwargs)
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS}/favicon.png",
                              with_google_fonts=False)  # fmt: skip
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page

    return app
