"""Pages and fragments from the Jinja2 templates, with what every template may use: the operator,
the CSRF token, the language (``_``), the time zone, and the money and time formatters."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from silverpay.console import format as fmt
from silverpay.console.i18n import choose, translator
from silverpay.domain.operators import Operator, Role

LANG_COOKIE = "silverpay_lang"
TZ_COOKIE = "silverpay_tz"  # the browser's IANA zone, written by console.js


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("silverpay.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yuan"] = fmt.yuan
    env.globals["Role"] = Role
    return env


@dataclass(frozen=True)
class Viewer:
    """Who looks at the page and how: the operator (None on the sign-in page), their session's
    CSRF token, language and time zone."""

    operator: Operator | None
    csrf: str
    lang: str
    tz: ZoneInfo

    def can(self, role: Role) -> bool:
        return self.operator is not None and self.operator.role >= role


def viewer_of(request: Request, operator: Operator | None = None, csrf: str = "") -> Viewer:
    lang = choose(request.cookies.get(LANG_COOKIE))
    default_zone = getattr(request.app.state, "console_timezone", fmt.DEFAULT_ZONE)
    return Viewer(operator, csrf, lang, fmt.zone(request.cookies.get(TZ_COOKIE), default_zone))


def render(
    request: Request, template: str, viewer: Viewer, *, status: int = 200, headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:  # fmt: skip
    """``template`` with the page's values; an htmx request for a page that has a ``fragment``
    block gets only that block (the part htmx swaps)."""
    env = environment()
    tz = viewer.tz

    def when(value: Any, seconds: bool = True) -> str:
        return fmt.local_time(value, tz, seconds=seconds)

    context = {
        "request": request, "viewer": viewer, "operator": viewer.operator, "csrf": viewer.csrf,
        "lang": viewer.lang, "_": translator(viewer.lang), "tz": tz, "tz_name": str(tz.key), "when": when,
        "path": request.url.path, **values,
    }  # fmt: skip
    compiled = env.get_template(template)
    partial = request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"
    if partial and "fragment" in compiled.blocks:
        body = "".join(compiled.blocks["fragment"](compiled.new_context(context)))
    else:
        body = compiled.render(context)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
