"""Shaping service answers for the pages: the order's timeline, what may be refunded, which actions
to offer. Presentation only: the service decides and enforces every rule again on submit."""

from __future__ import annotations

import json
from typing import Any

from silverpay.domain.operators import Role

OPEN = ("CREATED", "PAYING")
# Detail fields shown first in a timeline entry, when present.
_LEAD = ("from", "to", "outcome", "verified", "source", "amount_fen", "out_refund_no", "reason", "note", "operator",
         "role", "ip", "error", "code")  # fmt: skip


def timeline_kind(kind: str) -> str:
    """A CSS class for the entry: operator actions, notifications, rejections, the rest."""
    if kind.startswith("operator") or kind.startswith("admin"):
        return "k-operator"
    if kind.endswith("notify"):
        return "k-notify"
    return "k-other"


def detail_text(detail: dict[str, Any]) -> str:
    """A compact line of an event's detail (already redacted when it was written)."""
    ordered = [k for k in _LEAD if k in detail] + sorted(k for k in detail if k not in _LEAD)
    parts = []
    for key in ordered:
        value = detail[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}={text}")
    return " · ".join(parts)


def timeline(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Events and the rejected notifications that named the order, newest first."""
    entries = [
        {"at": e["at"], "kind": e["kind"], "css": timeline_kind(e["kind"]), "detail": e["detail"],
         "text": detail_text(e["detail"]), "verified": e["detail"].get("verified")}
        for e in order.get("events", [])
    ]  # fmt: skip
    for r in order.get("rejected_notifications", []):
        entries.append({
            "at": r["last_at"], "kind": f"{r['endpoint']} rejected", "css": "k-rejected", "detail": r,
            "text": f"code={r['code']} · count={r['count']} · reason={r['reason']}", "verified": False,
        })  # fmt: skip
    order_of = {id(e): i for i, e in enumerate(entries)}  # events come oldest first: ties keep that order
    return sorted(entries, key=lambda e: (e["at"] or "", order_of[id(e)]), reverse=True)


def actions(order: dict[str, Any], role: Role) -> dict[str, str]:
    """Each action with ``"ok"``, ``"role:<needed>"`` (state allows it, the role does not) or absent."""
    offered: dict[str, str] = {}

    def offer(name: str, needed: Role) -> None:
        offered[name] = "ok" if role >= needed else "role:" + needed.label

    offer("requery", Role.SUPPORT)
    if order["status"] in OPEN:
        offer("close", Role.SUPPORT)
    if order.get("refundable_fen", 0) > 0:
        offer("refund", Role.FINANCE)
    if order.get("needs_review"):
        offer("resolve", Role.FINANCE)
    return offered
