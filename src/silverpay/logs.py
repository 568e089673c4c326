"""Logging set-up for the commands. Messages name the order's out_trade_no, never a secret."""

from __future__ import annotations

import logging


def configure(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Libraries whose chatty levels print secrets: httpx logs full URLs (jscode2session carries the
    # AppSecret in its query), the database drivers log bound values (a users row holds session_key).
    for name in ("httpx", "httpcore", "aiosqlite", "asyncpg", "aiomysql", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)
