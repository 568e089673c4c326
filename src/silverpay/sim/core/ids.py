"""Identifiers the platform hands out, shaped like WeChat's."""

from __future__ import annotations

import secrets

from silverpay.beijing import format_beijing


def new_prepay_id(now: float) -> str:
    return "wx" + format_beijing(now) + secrets.token_hex(10)


def new_transaction_id(now: float) -> str:
    return "4200" + format_beijing(now)[:8] + f"{secrets.randbelow(10**16):016d}"


def new_refund_id(now: float) -> str:
    return "5030" + format_beijing(now) + secrets.token_hex(5)
