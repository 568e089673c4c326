"""Money is an ``int`` number of fen (0.01 CNY) everywhere. Yuan exist only as text at the edges."""

from __future__ import annotations

import re

from silverpay.errors import InvalidRequest

MAX_ORDER_FEN = 10_000_000_00  # 10 million yuan: far above any mini-program basket, far below overflow
_YUAN = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,2}))?\Z")


def order_amount(unit_price_fen: int, quantity: int) -> int:
    if unit_price_fen <= 0:
        raise InvalidRequest("unit price must be positive")
    if not 1 <= quantity <= 99:
        raise InvalidRequest("quantity must be between 1 and 99")
    amount = unit_price_fen * quantity
    if amount > MAX_ORDER_FEN:
        raise InvalidRequest("order amount too large")
    return amount


def format_yuan(fen: int) -> str:
    """``12345`` → ``"123.45"``: exact, by integer arithmetic."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def parse_yuan(text: str) -> int:
    """``"123.45"`` → ``12345``; refuses more than two decimals instead of rounding them away."""
    match = _YUAN.match(text.strip())
    if not match:
        raise ValueError(f"not a yuan amount: {text!r}")
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    return -fen if sign else fen
