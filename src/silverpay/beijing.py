"""Beijing time (UTC+8, no DST), WeChat's clock: ``yyyyMMddHHmmss`` (v2 fields, order numbers),
``yyyy-MM-dd HH:mm:ss`` (refunds, bills) and RFC 3339 with an offset (v3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from silverpay.errors import ProtocolError

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_COMPACT = "%Y%m%d%H%M%S"
_DASHED = "%Y-%m-%d %H:%M:%S"
# fromisoformat alone would also take dates without a time or offset; WeChat always sends both.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})\Z")


def format_beijing(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, BEIJING).strftime(_COMPACT)


def parse_beijing(text: str) -> float:
    """Epoch seconds of a ``yyyyMMddHHmmss`` Beijing time; :class:`ProtocolError` if malformed."""
    if len(text) != 14 or not text.isdigit():
        raise ProtocolError(f"time {text!r} is not yyyyMMddHHmmss")
    try:
        return datetime.strptime(text, _COMPACT).replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise ProtocolError(f"time {text!r} is not a valid date") from None


def iso_utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


def format_beijing_dashed(epoch_s: float) -> str:
    """``yyyy-MM-dd HH:mm:ss``: the refund and bill time format."""
    return datetime.fromtimestamp(epoch_s, BEIJING).strftime(_DASHED)


def parse_beijing_dashed(text: str) -> float:
    try:
        return datetime.strptime(text, _DASHED).replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise ProtocolError(f"time {text!r} is not yyyy-MM-dd HH:mm:ss") from None


def format_rfc3339(epoch_s: float) -> str:
    """Whole seconds in Beijing time, the form v3 sends and expects (``2018-06-08T10:34:56+08:00``)."""
    return datetime.fromtimestamp(int(epoch_s), BEIJING).isoformat(timespec="seconds")


def parse_rfc3339(text: str) -> float:
    """Epoch seconds; :class:`ProtocolError` unless it is a full date-time with an offset."""
    if not _RFC3339.match(text):
        raise ProtocolError(f"time {text!r} is not RFC 3339 with an offset", code="TIME_INVALID")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ProtocolError(f"time {text!r} is not a valid date", code="TIME_INVALID") from None
