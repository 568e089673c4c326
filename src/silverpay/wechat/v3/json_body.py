"""JSON as v3 bodies need it: strict on the way in, compact and byte-exact on the way out.

Signatures cover the exact bytes sent, so a body is serialised once with :func:`dumps` and those
bytes are both signed and sent. Parsing refuses what a genuine WeChat body never has: oversized
input, a non-object top level, duplicate names (two readers could see two values), NaN/Infinity.
"""

from __future__ import annotations

import json
from typing import Any

from silverpay.errors import ProtocolError

MAX_BODY_BYTES = 64 * 1024


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON (no spaces, Chinese unescaped), the bytes to sign and send."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ProtocolError(f"JSON has a duplicate name {name!r}", code="JSON_INVALID")
        result[name] = value
    return result


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"JSON has a non-standard constant {name}", code="JSON_INVALID")


def loads_object(data: bytes | str, *, what: str = "body", max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Parse a JSON object; :class:`ProtocolError` (code ``JSON_INVALID``) for anything else."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ProtocolError(f"{what} larger than {max_bytes} bytes", code="JSON_INVALID")
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise ProtocolError(f"{what} is not JSON", code="JSON_INVALID") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not a JSON object", code="JSON_INVALID")
    return value
