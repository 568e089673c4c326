"""RFC 3339 times as v3 writes them: ``2018-06-08T10:34:56+08:00`` (SPEC §3.5 ``time_expire``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from silverpay.errors import ProtocolError

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# fromisoformat alone would also take dates without a time or offset; WeChat always sends both.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})\Z")


def format_rfc3339(epoch_s: float) -> str:
    """Whole seconds in Beijing time, the form WeChat sends and expects."""
    return datetime.fromtimestamp(int(epoch_s), BEIJING).isoformat(timespec="seconds")


def parse_rfc3339(text: str) -> float:
    """Epoch seconds; :class:`ProtocolError` unless it is a full date-time with an offset."""
    if not _RFC3339.match(text):
        raise ProtocolError(f"time {text!r} is not RFC 3339 with an offset", code="TIME_INVALID")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ProtocolError(f"time {text!r} is not a valid date", code="TIME_INVALID") from None
