"""Optional durability for the simulator: records as JSON rows in one SQLite file.

The simulator is one process on one event loop, so a plain synchronous ``sqlite3`` connection
with a write per change is enough; nothing here is shared with the service's database layer.
Rows keep their first-write order (``seq``) so that a restart reloads them in that order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol


class Persistence(Protocol):
    def put(self, kind: str, key: str, record: dict[str, Any]) -> None: ...
    def put_many(self, kind: str, records: Iterable[tuple[str, dict[str, Any]]]) -> None: ...
    def load(self, kind: str) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class InMemory:
    """The default: nothing survives a restart."""

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        return None

    def put_many(self, kind: str, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        return None

    def load(self, kind: str) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        return None


_UPSERT = (
    "INSERT INTO records (kind, key, data, seq) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data"
)


class SqliteFile:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A simulator's state may lose its last writes to a power cut, not to a crash of the process.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, seq INTEGER NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )
        # Counted here rather than by MAX(seq) per write: that scans the table (no index on seq).
        (last,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
        self._seq = int(last)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        self._db.execute(_UPSERT, (kind, key, json.dumps(record, ensure_ascii=False), self._next()))

    def put_many(self, kind: str, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        rows = [(kind, key, json.dumps(record, ensure_ascii=False), self._next()) for key, record in records]
        with self._db:  # one transaction
            self._db.execute("BEGIN")
            self._db.executemany(_UPSERT, rows)

    def load(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT data FROM records WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(data) for (data,) in rows]

    def close(self) -> None:
        self._db.close()
