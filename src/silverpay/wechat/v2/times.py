"""WeChat's ``yyyyMMddHHmmss`` timestamps, always in Beijing time (UTC+8, no DST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from silverpay.errors import ProtocolError

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_FORMAT = "%Y%m%d%H%M%S"


def format_beijing(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, BEIJING).strftime(_FORMAT)


def parse_beijing(text: str) -> float:
    """Epoch seconds of a ``yyyyMMddHHmmss`` Beijing time; :class:`ProtocolError` if malformed."""
    if len(text) != 14 or not text.isdigit():
        raise ProtocolError(f"time {text!r} is not yyyyMMddHHmmss")
    try:
        return datetime.strptime(text, _FORMAT).replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise ProtocolError(f"time {text!r} is not a valid date") from None


def iso_utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


def format_beijing_dashed(epoch_s: float) -> str:
    """``yyyy-MM-dd HH:mm:ss``: the refund and bill time format."""
    return datetime.fromtimestamp(epoch_s, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_beijing_dashed(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise ProtocolError(f"time {text!r} is not yyyy-MM-dd HH:mm:ss") from None
