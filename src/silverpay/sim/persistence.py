"""Optional durability for the simulator: records as JSON rows in one SQLite file.

The simulator is one process on one event loop, so a plain synchronous ``sqlite3`` connection
with a write per change is enough; nothing here is shared with the service's database layer.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Protocol


class Persistence(Protocol):
    def put(self, kind: str, key: str, record: dict[str, Any]) -> None: ...
    def load(self, kind: str) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class InMemory:
    """The default: nothing survives a restart."""

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        return None

    def load(self, kind: str) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        return None


class SqliteFile:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, seq INTEGER NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO records (kind, key, data, seq) VALUES (?, ?, ?,"
            " (SELECT COALESCE(MAX(seq), 0) + 1 FROM records))"
            " ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data",
            (kind, key, json.dumps(record, ensure_ascii=False)),
        )

    def load(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT data FROM records WHERE kind = ? ORDER BY seq", (kind,))
        return [json.loads(data) for (data,) in rows]

    def close(self) -> None:
        self._db.close()
