"""How the console shows money and time: pure functions, no I/O.

Money arrives as integer fen and leaves as yuan text by integer arithmetic (never a float); times
arrive as aware datetimes or ISO 8601 text and leave in the operator's time zone, with the zone shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"


def yuan(fen: int | None, *, symbol: bool = True) -> str:
    """``123456`` → ``"¥1,234.56"``; ``-5`` → ``"-¥0.05"``; ``None`` → ``"—"``."""
    if fen is None:
        return "—"
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError(f"fen must be an int, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{'¥' if symbol else ''}{whole:,}.{cents:02d}"


def zone(name: str | None, default: str = DEFAULT_ZONE) -> ZoneInfo:
    """The named IANA zone, or ``default`` when the name is missing or unknown (it comes from a cookie)."""
    if name and len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


def local_time(value: datetime | str | None, tz: ZoneInfo, *, seconds: bool = True) -> str:
    """An instant in ``tz``: ``"2026-11-29 18:05:09 CST"`` (the zone's abbreviation, or its UTC offset)."""
    if value is None or value == "":
        return "—"
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)  # stored times are UTC
    here = instant.astimezone(tz)
    abbreviation = here.tzname() or ""
    if not abbreviation or abbreviation[0] in "+-":  # zones without a letter abbreviation
        abbreviation = "UTC" + here.strftime("%z")[:3] + ":" + here.strftime("%z")[3:]
    return here.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " " + abbreviation
