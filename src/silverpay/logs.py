"""Logging set-up for the commands. Messages name the order's out_trade_no, never a secret.

Two formats (``SILVERPAY_LOG_FORMAT``): ``text``, one readable line per record, or ``json``, one
JSON object per line for log collectors. Either way every line carries the request id of the HTTP
request it was written for (``-`` outside one), set by :mod:`silverpay.api.request_id`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# The loggers that print the URLs silverpay requests: httpx at INFO ("HTTP Request: GET <url> …"),
# httpcore's modules at DEBUG. A filter on a logger sees only records made on that very logger,
# not its children's, so each module's logger is named.
HTTP_LOGGERS = (
    "httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
    "httpcore.socks",
)  # fmt: skip
# Query parameters that are credentials: jscode2session's AppSecret, WeChat's access_token.
_URL_SECRET = re.compile(r"(?<=[?&;])(secret|access_token)=[^&;#\s\"'<>]*", re.IGNORECASE)


class RedactUrlSecrets(logging.Filter):
    """Rewrites a record whose message carries ``secret=…`` or ``access_token=…`` in a URL, keeping
    the rest of the URL (host, path, other parameters) for the operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error reporting
            return True
        redacted = _URL_SECRET.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACT = RedactUrlSecrets()


def redact_url_secrets() -> None:
    """Attach the filter to the HTTP client loggers, once however often it is called. Called by
    the clients that put a secret in a URL (wechat.login), so it holds under any logging set-up:
    uvicorn's, gunicorn's, or none at all."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


class WithRequestId(logging.Filter):
    """On a handler: gives every record it writes the current request's id (``-`` outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id, and the
    exception's traceback when there is one. The message is the redacted one (filters run first)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def handler(fmt: LogFormat = "text") -> logging.Handler:
    """A stderr handler writing ``fmt``, with the request id on every record."""
    out = logging.StreamHandler()
    out.addFilter(WithRequestId())
    out.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return out


def configure(level: str = "INFO", fmt: LogFormat = "text") -> None:
    logging.basicConfig(level=level, handlers=[handler(fmt)])
    # Libraries whose chatty levels print secrets: httpx logs full URLs (jscode2session carries the
    # AppSecret in its query, redacted by the filter above), the database drivers log bound values
    # (a users row holds session_key).
    for name in ("httpx", "httpcore", "aiosqlite", "asyncpg", "aiomysql", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)
