"""Logging set-up for the commands. Messages name the order's out_trade_no, never a secret."""

from __future__ import annotations

import logging
import re

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


def configure(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Libraries whose chatty levels print secrets: httpx logs full URLs (jscode2session carries the
    # AppSecret in its query, redacted by the filter above), the database drivers log bound values
    # (a users row holds session_key).
    for name in ("httpx", "httpcore", "aiosqlite", "asyncpg", "aiomysql", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)
