"""Orders: prepay with re-entry, query, close, and what a payment does (SPEC §2.3–2.6, §3.5, §3.7)."""

from __future__ import annotations

from silverpay.sim.config import CLOSE_MIN_AGE_S, PREPAY_TTL_S, SimConfig
from silverpay.sim.core.commands import Closed, Prepaid, Prepay, TradeRef, TradeState, TradeView
from silverpay.sim.core.failures import Reason, RuleFailure
from silverpay.sim.core.ids import new_prepay_id, new_transaction_id
from silverpay.sim.state import SimState, Trade

BANK_TYPE = "OTHERS"


def check_app(config: SimConfig, mch_id: str, appid: str) -> None:
    app = config.apps.get(appid)
    if app is None or app.mch_id != mch_id:
        raise RuleFailure(Reason.APPID_MCHID_NOT_MATCH, "appid和mch_id不匹配")


def prepay(config: SimConfig, state: SimState, cmd: Prepay, now: float) -> Prepaid:
    """A new trade, or the same one again: identical terms give the same prepay_id (a fresh one
    after its 2 hours), different terms OUT_TRADE_NO_USED, a paid or closed trade its state."""
    terms = cmd.terms
    check_app(config, cmd.mch_id, terms.appid)
    if terms.trade_type != "JSAPI":
        raise RuleFailure(Reason.NO_AUTH, "商户无此接口权限")  # the simulator models mini-program merchants only
    if f"{terms.appid}:{terms.openid}" not in state.users:
        raise RuleFailure(Reason.PARAM_ERROR, "appid和openid不匹配")
    if terms.time_expire is not None and terms.time_expire < now + CLOSE_MIN_AGE_S:
        raise RuleFailure(Reason.INVALID_REQUEST, "time_expire时间过短，刷卡至少1分钟，其他5分钟")

    trade = state.trade(cmd.mch_id, cmd.out_trade_no)
    if trade is None:
        trade = Trade(
            mch_id=cmd.mch_id, out_trade_no=cmd.out_trade_no, appid=terms.appid, openid=terms.openid,
            description=terms.description, total_fen=terms.total_fen, notify_url=terms.notify_url, api=cmd.api,
            sign_type=cmd.sign_type, created_at=now, prepay_id=new_prepay_id(now),
            prepay_expires_at=now + PREPAY_TTL_S, trade_type=terms.trade_type, attach=terms.attach,
            time_expire=terms.time_expire, extras=terms.extras, history=[{"at": now, "event": "created"}],
        )  # fmt: skip
        state.save_trade(trade)
        return Prepaid(trade.prepay_id, trade.trade_type)
    if trade.trade_state.paid:
        raise RuleFailure(Reason.ALREADY_PAID, "该订单已支付")
    if trade.trade_state is TradeState.CLOSED:
        raise RuleFailure(Reason.CLOSED, "该订单已关闭")
    if trade.terms != terms:
        raise RuleFailure(Reason.OUT_TRADE_NO_USED, "商户订单号重复")
    if trade.time_expire is not None and now >= trade.time_expire:
        raise RuleFailure(Reason.CLOSED, "该订单已过期")
    trade.api, trade.sign_type = cmd.api, cmd.sign_type  # the last prepay decides paySign and notification
    if now >= trade.prepay_expires_at:  # re-entry after 2 h: a fresh prepay for the same trade
        trade.prepay_id = new_prepay_id(now)
        trade.prepay_expires_at = now + PREPAY_TTL_S
        trade.history.append({"at": now, "event": "prepay renewed"})
    state.save_trade(trade)
    return Prepaid(trade.prepay_id, trade.trade_type)


def find(state: SimState, ref: TradeRef) -> Trade:
    if ref.transaction_id:
        trade = state.trade_by_transaction(ref.transaction_id)
        if trade is not None and trade.mch_id != ref.mch_id:
            trade = None
    else:
        trade = state.trade(ref.mch_id, ref.out_trade_no)
    if trade is None or (ref.appid is not None and trade.appid != ref.appid):
        raise RuleFailure(Reason.NOT_FOUND, "订单不存在")
    return trade


def view(trade: Trade) -> TradeView:
    paid = trade.trade_state.paid  # payment fields exist only once paid (SPEC §2.5)
    return TradeView(
        mch_id=trade.mch_id, appid=trade.appid, out_trade_no=trade.out_trade_no, trade_state=trade.trade_state,
        trade_type=trade.trade_type, description=trade.description, total_fen=trade.total_fen, attach=trade.attach,
        openid=trade.openid, transaction_id=trade.transaction_id if paid else "",
        paid_at=trade.paid_at if paid else None, bank_type=trade.bank_type if paid else "",
        payer_total_fen=trade.payer_total_fen if paid else 0,
    )  # fmt: skip


def query(config: SimConfig, state: SimState, ref: TradeRef) -> TradeView:
    if ref.appid is not None:
        check_app(config, ref.mch_id, ref.appid)
    return view(find(state, ref))


def close(config: SimConfig, state: SimState, ref: TradeRef, now: float) -> Closed:
    if ref.appid is not None:
        check_app(config, ref.mch_id, ref.appid)
    trade = find(state, TradeRef(ref.mch_id, out_trade_no=ref.out_trade_no, appid=ref.appid))
    if trade.trade_state.paid:
        raise RuleFailure(Reason.ALREADY_PAID, "订单已支付，不能发起关单")
    if trade.trade_state is TradeState.CLOSED:
        raise RuleFailure(Reason.CLOSED, "订单已关闭，无需继续调用")
    if now - trade.created_at < CLOSE_MIN_AGE_S:
        # Observed platform behaviour (SPEC §2.6): success, yet the order stays open and payable.
        trade.history.append({"at": now, "event": "close ignored: order younger than 5 minutes"})
        state.save_trade(trade)
        return Closed(ignored=True)
    trade.trade_state = TradeState.CLOSED
    trade.closed_at = now
    trade.history.append({"at": now, "event": "closed"})
    state.save_trade(trade)
    return Closed(ignored=False)


def check_payable(trade: Trade, prepay_id: str, now: float) -> None:
    """Whether a payment sheet for ``prepay_id`` may still pay ``trade``."""
    if trade.trade_state.paid:
        raise RuleFailure(Reason.ALREADY_PAID, "该订单已支付")
    if trade.trade_state is TradeState.CLOSED:
        raise RuleFailure(Reason.CLOSED, "订单已关闭")
    if trade.prepay_id != prepay_id or now >= trade.prepay_expires_at:
        raise RuleFailure(Reason.PREPAY_EXPIRED, "prepay_id已失效")
    if trade.time_expire is not None and now >= trade.time_expire:
        raise RuleFailure(Reason.CLOSED, "订单已过期")


def mark_paid(state: SimState, trade: Trade, now: float) -> None:
    trade.trade_state = TradeState.SUCCESS
    trade.transaction_id = new_transaction_id(now)
    trade.paid_at = now
    trade.bank_type = BANK_TYPE
    trade.payer_total_fen = trade.total_fen
    trade.history.append({"at": now, "event": "paid"})
    state.save_trade(trade)
