"""Load the known-answer vectors (tests/vectors/, a copy of ../shared/wechat/vectors/)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).parent / "vectors"
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared" / "wechat" / "vectors"


@cache
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))
    return data


def vector(name: str) -> dict[str, Any]:
    return vectors()[name]  # type: ignore[no-any-return]
