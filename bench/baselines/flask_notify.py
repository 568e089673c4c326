"""The baseline of bench/notify.py: a v2 payment notification handler as a typical tutorial writes it.

Flask + wechatpy + synchronous SQLAlchemy on psycopg 3, run by gunicorn:

    gunicorn --workers 1 --worker-class sync --chdir bench/baselines flask_notify:app

It does the checks silverpay does, on silverpay's own tables: verify the signature with wechatpy
(the notification's declared sign_type), check return_code/result_code, appid, mch_id and the
amount against the order, then in one transaction lock the order (SELECT … FOR UPDATE), move it
with a guarded UPDATE and write one `order_events` row of silverpay's shape (kind 'status',
detail {"from", "to": "PAID", "source"}), and answer WeChat's XML SUCCESS/FAIL.

Configured by environment variables: BASELINE_DATABASE_URL (a postgresql+psycopg:// URL),
BASELINE_APPID, BASELINE_MCH_ID, BASELINE_API_KEY.

Worker class: gunicorn's default `sync` worker, one request at a time per process. The handler
blocks (psycopg, the signature, the XML), which is exactly what the sync worker is for and what a
tutorial deploys; threads would only add GIL contention on one core, and 1 worker matches the one
process of `silverpay serve`. Note the sync worker closes the connection after every response (no
keep-alive), as WeChat's notifier meets on many deployments.
"""

from __future__ import annotations

import hmac
import json
import os
from datetime import UTC, datetime, timedelta, timezone

import xmltodict  # wechatpy's own XML parser, installed with it
from flask import Flask, Response, request
from sqlalchemy import create_engine, text
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

BEIJING = timezone(timedelta(hours=8))
APPID = os.environ["BASELINE_APPID"]
MCH_ID = os.environ["BASELINE_MCH_ID"]
API_KEY = os.environ["BASELINE_API_KEY"]

app = Flask(__name__)
engine = create_engine(os.environ["BASELINE_DATABASE_URL"], pool_pre_ping=False)


def reply(ok: bool, message: str = "OK") -> Response:
    body = dict_to_xml({"return_code": "SUCCESS" if ok else "FAIL", "return_msg": message})
    return Response(body, status=200 if ok else 400, mimetype="text/xml")


def verified(body: bytes) -> dict[str, str] | None:
    """The notification's fields if wechatpy's signature over them matches, else None."""
    try:
        data = dict(xmltodict.parse(body)["xml"])
    except Exception:
        return None
    sign = data.pop("sign", None) or ""
    # wechatpy's parse_payment_result knows MD5 only; the tutorial picks by the declared sign_type.
    calculate = calculate_signature_hmac if data.get("sign_type") == "HMAC-SHA256" else calculate_signature
    return data if hmac.compare_digest(sign, calculate(data, API_KEY)) else None


@app.post("/api/v1/wechat/notify")
def notify() -> Response:
    data = verified(request.get_data())
    if data is None:
        return reply(False, "invalid signature")
    if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
        return reply(False, "not a successful payment")
    if data.get("appid") != APPID or data.get("mch_id") != MCH_ID:
        return reply(False, "not our merchant")
    now = datetime.now(UTC).replace(tzinfo=None)  # silverpay's columns hold naive UTC
    paid_at = datetime.strptime(data["time_end"], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    with engine.begin() as db:
        order = (
            db.execute(
                text("SELECT id, status, amount_fen FROM orders WHERE out_trade_no = :no FOR UPDATE"),
                {"no": data["out_trade_no"]},
            )
            .mappings()
            .first()
        )
        if order is None:
            return reply(False, "unknown order")
        if order["status"] == "PAID":
            return reply(True)  # a retry of a settled order
        if int(data["total_fee"]) != order["amount_fen"]:
            return reply(False, "amount mismatch")
        paid = {"tx": data["transaction_id"], "paid_at": paid_at.astimezone(UTC).replace(tzinfo=None), "now": now}
        moved = db.execute(
            text(
                "UPDATE orders SET status = 'PAID', transaction_id = :tx, paid_at = :paid_at, updated_at = :now, "
                "next_check_at = NULL WHERE id = :id AND status IN ('CREATED', 'PAYING')"
            ),
            {**paid, "id": order["id"]},
        ).rowcount
        if moved == 1:
            detail = {"from": order["status"], "to": "PAID", "source": "notify"}
            db.execute(
                text(
                    "INSERT INTO order_events (order_id, out_trade_no, kind, detail, created_at) "
                    "VALUES (:id, :no, 'status', CAST(:detail AS json), :now)"
                ),
                {"id": order["id"], "no": data["out_trade_no"], "detail": json.dumps(detail), "now": now},
            )
    return reply(True)
