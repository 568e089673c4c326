"""Keep credentials that travel in URLs out of the logs.

httpx logs every request's full URL at INFO (``HTTP Request: POST https://…?access_token=…``),
and the mini-program APIs carry their ``access_token`` in the query, as ``jscode2session`` carries
the AppSecret (``secret=``). :func:`redact_http_logs` puts a filter on httpx's and httpcore's
loggers that rewrites such values to ``***`` before any handler sees the record; clients whose URLs
hold a credential call it when they are constructed (it is idempotent).

A logger's filter sees only the records logged on that logger, not those propagated from its
children, so httpcore's modules are each named.
"""

from __future__ import annotations

import logging
import re

# name=value in a query string (or anywhere in a message): the value runs to &, whitespace or a quote.
_SECRET_PARAM = re.compile(r"\b(access_token|secret)=[^&\s\"'<>]+")
HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def redact(text: str) -> str:
    """``text`` with every ``access_token=…`` and ``secret=…`` value replaced by ``***``."""
    return _SECRET_PARAM.sub(r"\1=***", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record whose message names a credential; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to the handler to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = RedactSecretsFilter()


def redact_http_logs() -> None:
    """Attach the filter to httpx's and httpcore's loggers (once per logger)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(_FILTER)
