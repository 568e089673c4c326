"""Field formats both API versions share (SPEC §2.3, §2.7, §3.5): checked by each wire adapter."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# Whole-string patterns, written so that Python's re and Pydantic's (Rust) regex read them alike.
OUT_TRADE_NO_PATTERN = r"^[0-9A-Za-z_\-|*]{1,32}$"
OUT_REFUND_NO_PATTERN = r"^[0-9A-Za-z_\-|*@]{1,64}$"
OUT_TRADE_NO = re.compile(OUT_TRADE_NO_PATTERN.replace("$", r"\Z"))
OUT_REFUND_NO = re.compile(OUT_REFUND_NO_PATTERN.replace("$", r"\Z"))
MAX_FEN = 9_999_999_999  # ten digits


def utf8_len(text: str) -> int:
    """WeChat's String(n) counts UTF-8 bytes."""
    return len(text.encode())


def is_notify_url(url: str) -> bool:
    """Directly reachable: http(s), a host, no query, no fragment."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.query and not parts.fragment


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
