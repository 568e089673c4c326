"""Trades put into the state wholesale (``POST /sim/v1/trades:seed``), for benchmarks and tools.

A seeded trade is what the platform would hold had it been ordered (and paid or closed) through
the API: a prepay_id, and for a paid one a transaction_id, payment time and bank. Nothing is
notified. A batch goes in whole or not at all.
"""

from __future__ import annotations

from silverpay.sim.config import PREPAY_TTL_S, SimConfig
from silverpay.sim.core.commands import ApiVersion, Seed, Seeded, TradeState
from silverpay.sim.core.ids import new_prepay_id, new_transaction_id
from silverpay.sim.core.trades import BANK_TYPE, check_app
from silverpay.sim.state import SimState, Trade

MAX_BATCH = 10_000
# What wx.requestPayment would sign a seeded trade's sheet with: v2's default, v3's only type.
SIGN_TYPES = {ApiVersion.V2: "MD5", ApiVersion.V3: "RSA"}


class SeedRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def seed(config: SimConfig, state: SimState, batch: Seed, now: float) -> list[Seeded]:
    if batch.mch_id not in config.merchants:
        raise SeedRefused(400, f"unknown mch_id {batch.mch_id}")
    check_app(config, batch.mch_id, batch.appid)
    if len(batch.trades) > MAX_BATCH:
        raise SeedRefused(413, f"at most {MAX_BATCH} trades per call")
    seen: set[str] = set()
    for item in batch.trades:
        if item.out_trade_no in seen or state.trade(batch.mch_id, item.out_trade_no) is not None:
            raise SeedRefused(409, f"out_trade_no {item.out_trade_no} exists already")
        if item.paid_at is not None and item.trade_state is not TradeState.SUCCESS:
            raise SeedRefused(400, f"out_trade_no {item.out_trade_no}: paid_at is for SUCCESS trades only")
        if item.trade_state not in (TradeState.NOTPAY, TradeState.SUCCESS, TradeState.CLOSED):
            raise SeedRefused(400, f"out_trade_no {item.out_trade_no}: seed NOTPAY, SUCCESS or CLOSED trades")
        seen.add(item.out_trade_no)

    made: list[Trade] = []
    for item in batch.trades:
        created = now if item.created_at is None else item.created_at
        trade = Trade(
            mch_id=batch.mch_id, out_trade_no=item.out_trade_no, appid=batch.appid, openid=item.openid,
            description=item.description, total_fen=item.total_fen, notify_url=item.notify_url, api=item.api,
            sign_type=SIGN_TYPES[item.api], created_at=created, prepay_id=new_prepay_id(created),
            prepay_expires_at=created + PREPAY_TTL_S, attach=item.attach, trade_state=item.trade_state,
            history=[{"at": now, "event": "seeded"}],
        )  # fmt: skip
        if item.trade_state is TradeState.SUCCESS:
            paid = now if item.paid_at is None else item.paid_at
            trade.transaction_id, trade.paid_at = new_transaction_id(paid), paid
            trade.bank_type, trade.payer_total_fen = BANK_TYPE, item.total_fen
        elif item.trade_state is TradeState.CLOSED:
            trade.closed_at = now
        made.append(trade)
    state.save_trades(made)
    return [Seeded(t.out_trade_no, t.prepay_id, t.transaction_id) for t in made]
