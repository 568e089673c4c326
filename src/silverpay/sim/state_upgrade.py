"""State files written before the neutral core: their trade and refund rows, read as today's.

The old rows kept v2's fields (``total_fee``, ``time_end``, ``business`` as v2 fields, v2 refund
statuses) and marked a v3 trade by its paySign type ``RSA``. Rows in today's shape pass through.
"""

from __future__ import annotations

from typing import Any

from silverpay.beijing import parse_beijing
from silverpay.sim.v2_codes import REFUND_STATUS_OF

# The old business fields that are today's named trade fields; the rest become extras.
_NAMED = frozenset({"appid", "mch_id", "body", "out_trade_no", "total_fee", "notify_url", "trade_type", "openid",
                    "time_expire", "attach"})  # fmt: skip


def trade(row: dict[str, Any]) -> dict[str, Any]:
    if "total_fee" not in row:
        return row
    v3 = row["sign_type"] == "RSA"
    # The old v3 adapter always added fee_type=CNY; today's v3 terms have no such field.
    skip = _NAMED | {"fee_type"} if v3 else _NAMED
    extras = sorted((k, str(v)) for k, v in row["business"].items() if k not in skip)
    return {
        "mch_id": row["mch_id"], "out_trade_no": row["out_trade_no"], "appid": row["appid"], "openid": row["openid"],
        "description": row["body"], "total_fen": row["total_fee"], "notify_url": row["notify_url"],
        "api": "v3" if v3 else "v2", "sign_type": row["sign_type"], "created_at": row["created_at"],
        "prepay_id": row["prepay_id"], "prepay_expires_at": row["prepay_expires_at"], "trade_type": row["trade_type"],
        "attach": row["attach"], "time_expire": row["time_expire"], "extras": extras,
        "trade_state": row["trade_state"], "transaction_id": row["transaction_id"],
        "paid_at": parse_beijing(row["time_end"]) if row["time_end"] else None, "bank_type": row["bank_type"],
        "payer_total_fen": row["cash_fee"], "closed_at": row["closed_at"], "history": row["history"],
    }  # fmt: skip


def refund(row: dict[str, Any]) -> dict[str, Any]:
    if "total_fee" not in row:
        return row
    return {
        "mch_id": row["mch_id"], "out_refund_no": row["out_refund_no"], "out_trade_no": row["out_trade_no"],
        "transaction_id": row["transaction_id"], "refund_id": row["refund_id"], "total_fen": row["total_fee"],
        "refund_fen": row["refund_fee"], "reason": row["refund_desc"], "notify_url": row["notify_url"],
        "created_at": row["created_at"], "due_at": row["due_at"], "outcome": REFUND_STATUS_OF[row["outcome"]],
        "api": row.get("api", "v2"), "status": REFUND_STATUS_OF[row["refund_status"]],
        "success_time": row["success_time"],
    }  # fmt: skip
