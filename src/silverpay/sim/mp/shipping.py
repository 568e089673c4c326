"""Shipping-info management's rules (SHIPPING.md §1.3–1.6), on the trades the pay platform holds.

A payment is known here once it is paid at the simulated WeChat Pay, through the calling token's
mini-program, and ``shipping_payment_delay_s`` (a fault, default 0) has passed since: before that,
10060001 as WeChat answers in a payment's first seconds. Its ``order_state``:
1 awaiting shipment → 2 shipped (everything uploaded) → 3 receipt confirmed (by the buyer, or
automatically ``auto_confirm_s`` after shipping) → 4 complete (settled, ``settlement_delay_s`` after
confirmation); 5 once fully refunded, whatever it was. State 6 (资金待结算) is not produced.

Uploads: the first completes (or, split, extends) the shipping; the same content again is 10060023
and changes nothing; a change once shipping is complete, or a change of delivery mode or logistics
type, is the payment's one re-ship (then 10060003); a refunded, confirmed or settled payment is
10060004; a later upload must carry a later ``upload_time``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from silverpay.beijing import parse_rfc3339
from silverpay.errors import ProtocolError
from silverpay.sim.config import REMIND_SHIPPING_AFTER_S, SimConfig
from silverpay.sim.core.commands import RefundStatus
from silverpay.sim.faults import FaultInjector
from silverpay.sim.mp import errors as e
from silverpay.sim.mp.errors import MpError
from silverpay.sim.mp.pushes import Pusher
from silverpay.sim.mp.store import MpState, Reminder, Shipment
from silverpay.sim.state import SimState, Trade
from silverpay.wechat.miniapp.push import EVENT_ORDER_SETTLEMENT, EVENT_REMIND_ACCESS_API, EVENT_REMIND_SHIPPING

MAX_PARCELS = 10
MAX_ITEM_DESC = 120
MAX_TRACKING_NO_BYTES = 128
MAX_PAGE_SIZE = 100
EXPRESS, SPLIT = 1, 2
SF_EXPRESS = "SF"
CONFIRM_AUTO, CONFIRM_MANUAL = 1, 2  # the doc's numbering (integrators report the two swapped)

AWAITING, SHIPPED, CONFIRMED, COMPLETE, REFUNDED = 1, 2, 3, 4, 5


def _format(message: str) -> MpError:
    return MpError(e.DATA_FORMAT_ERROR, f"data format error: {message}")


def int_field(doc: Mapping[str, Any], name: str) -> int:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _format(f"{name} must be a number")
    return value


def _optional_int(doc: Mapping[str, Any], name: str) -> int | None:
    return None if doc.get(name) is None else int_field(doc, name)


def str_field(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name, "")
    if not isinstance(value, str):
        raise _format(f"{name} must be a string")
    return value


def _obj(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise _format(f"{name} must be an object")
    return value


def _truncated(text: str) -> str:
    """WeChat cuts descriptions longer than 120 characters and ends them with "..."."""
    return text if len(text) <= MAX_ITEM_DESC else text[: MAX_ITEM_DESC - 3] + "..."


def _masked(number: str) -> bool:
    return "*" in number and len(number) >= 4 and number[-4:].isdigit()


@dataclass(frozen=True)
class PaymentRef:
    transaction_id: str = ""
    mch_id: str = ""
    out_trade_no: str = ""


@dataclass(frozen=True)
class Upload:
    ref: PaymentRef
    logistics_type: int
    delivery_mode: int
    is_all_delivered: bool | None
    parcels: tuple[dict[str, Any], ...]  # tracking_no, express_company, item_desc, contact
    upload_time: float
    payer_openid: str

    def content(self) -> tuple[object, ...]:
        """What an identical re-upload repeats (its upload_time may differ)."""
        delivered = self.is_all_delivered if self.delivery_mode == SPLIT else None
        return self.logistics_type, self.delivery_mode, delivered, self.parcels


def parse_upload(body: Mapping[str, Any]) -> Upload:
    """The request's fields, checked as WeChat checks them, in its errcodes."""
    key = _obj(body, "order_key")
    number_type = int_field(key, "order_number_type")
    if number_type == 1:
        ref = PaymentRef(mch_id=str_field(key, "mchid"), out_trade_no=str_field(key, "out_trade_no"))
        if not ref.mch_id or not ref.out_trade_no:
            raise _format("order_number_type 1 needs mchid and out_trade_no")
    elif number_type == 2:
        ref = PaymentRef(transaction_id=str_field(key, "transaction_id"))
        if not ref.transaction_id:
            raise _format("order_number_type 2 needs transaction_id")
    else:
        raise _format("order_number_type must be 1 or 2")
    logistics = int_field(body, "logistics_type")
    if logistics not in (1, 2, 3, 4):
        raise MpError(e.BAD_LOGISTICS_TYPE, "物流类型有误")
    mode = int_field(body, "delivery_mode")
    if mode not in (1, 2):
        raise _format("delivery_mode must be 1 or 2")
    delivered = body.get("is_all_delivered")
    if delivered is not None and not isinstance(delivered, bool):
        raise _format("is_all_delivered must be a boolean")
    items = body.get("shipping_list")
    if not isinstance(items, list):
        raise _format("shipping_list must be an array")  # the classic mistake: an object
    if not 1 <= len(items) <= MAX_PARCELS:
        raise _format(f"shipping_list has 1 to {MAX_PARCELS} entries")
    if mode == SPLIT:
        if logistics != EXPRESS:
            raise MpError(e.SPLIT_NOT_EXPRESS, "非快递发货时不允许分拆发货")
        if delivered is None:
            raise MpError(e.SPLIT_NEEDS_ALL_DELIVERED, "分拆发货模式下必须填写is_all_delivered字段")
    elif len(items) != 1:
        raise MpError(e.INVALID_ARGS, "invalid args: 统一发货只能有一个物流单")
    parcels = tuple(_parcel(item, logistics) for item in items)
    try:
        upload_time = parse_rfc3339(str_field(body, "upload_time"))
    except ProtocolError:
        raise _format("upload_time must be RFC 3339 with an offset") from None
    openid = str_field(_obj(body, "payer"), "openid")
    if not openid:
        raise _format("payer.openid is required")
    return Upload(ref, logistics, mode, delivered, parcels, upload_time, openid)


def _parcel(item: Any, logistics: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _format("shipping_list entries must be objects")
    desc, tracking, company = (
        str_field(item, "item_desc"),
        str_field(item, "tracking_no"),
        str_field(item, "express_company"),
    )
    if not desc.strip():
        raise MpError(e.ITEM_DESC_EMPTY, "商品信息不能为空")
    if len(desc) > MAX_ITEM_DESC:
        raise MpError(e.ITEM_DESC_TOO_LONG, "商品信息超过120字")
    if logistics == EXPRESS and not tracking:
        raise MpError(e.TRACKING_NO_EMPTY, "物流单号不能为空")
    if logistics == EXPRESS and not company:
        raise MpError(e.EXPRESS_COMPANY_EMPTY, "物流公司编码不能为空")
    if len(tracking.encode()) > MAX_TRACKING_NO_BYTES:
        raise _format("tracking_no is limited to 128 bytes")
    contact: dict[str, str] = {}
    if "contact" in item:
        raw = _obj(item, "contact")
        contact = {k: str_field(raw, k) for k in ("consignor_contact", "receiver_contact") if str_field(raw, k)}
    if company == SF_EXPRESS and not contact:
        raise MpError(e.INVALID_ARGS, "invalid args: 顺丰快递需填写寄件人或收件人联系方式")
    if any(not _masked(number) for number in contact.values()):
        raise MpError(e.INVALID_ARGS, "invalid args: 联系方式需掩码传输，最后4位数字不能打掩码")
    return {"tracking_no": tracking, "express_company": company, "item_desc": desc, "contact": contact}


def parse_ref(body: Mapping[str, Any]) -> PaymentRef:
    """get_order / notify_confirm_receive: ``transaction_id``, or ``merchant_id`` + ``merchant_trade_no``."""
    ref = PaymentRef(
        str_field(body, "transaction_id"), str_field(body, "merchant_id"), str_field(body, "merchant_trade_no")
    )
    if not ref.transaction_id and not (ref.mch_id and ref.out_trade_no):
        raise _format("name the payment by transaction_id or merchant_id + merchant_trade_no")
    return ref


# The rules ------------------------------------------------------------------------------------


class Shipping:
    def __init__(
        self, config: SimConfig, state: SimState, mp: MpState, injector: FaultInjector, pusher: Pusher
    ) -> None:
        self.config = config
        self.state = state
        self.mp = mp
        self.injector = injector
        self.pusher = pusher

    # Lookups ---------------------------------------------------------------------------------

    def payment(self, appid: str, ref: PaymentRef, now: float) -> Trade:
        """The paid trade the reference names, as this app's shipping management sees it."""
        if ref.transaction_id:
            trade = self.state.trade_by_transaction(ref.transaction_id)
        else:
            trade = self.state.trade(ref.mch_id, ref.out_trade_no)
        delay = self.injector.faults.shipping_payment_delay_s
        if (
            trade is None
            or trade.appid != appid
            or not trade.trade_state.paid
            or trade.paid_at is None
            or now < trade.paid_at + delay
        ):
            raise MpError(e.PAYMENT_NOT_FOUND, "支付单不存在")
        return trade

    def refunded(self, trade: Trade) -> bool:
        done = sum(r.refund_fen for r in self.state.refunds_of(trade) if r.status is RefundStatus.SUCCESS)
        return done >= trade.total_fen

    def order_state(self, trade: Trade, shipment: Shipment | None) -> int:
        if self.refunded(trade):
            return REFUNDED
        if shipment is None:
            return AWAITING
        if shipment.settled_at is not None:
            return COMPLETE
        if shipment.confirmed_at is not None:
            return CONFIRMED
        return SHIPPED if shipment.finished else AWAITING

    def order_json(self, trade: Trade) -> dict[str, Any]:
        shipment = self.mp.shipments.get(trade.key)
        order: dict[str, Any] = {
            "transaction_id": trade.transaction_id, "merchant_id": trade.mch_id, "sub_merchant_id": "",
            "merchant_trade_no": trade.out_trade_no, "description": _truncated(trade.description),
            "paid_amount": trade.payer_total_fen, "openid": trade.openid, "trade_create_time": int(trade.created_at),
            "pay_time": int(trade.paid_at or 0), "in_complaint": False,
            "order_state": self.order_state(trade, shipment),
        }  # fmt: skip
        if shipment is not None:
            order["shipping"] = {
                "delivery_mode": shipment.delivery_mode, "logistics_type": shipment.logistics_type,
                "finish_shipping": shipment.finished, "finish_shipping_count": shipment.finish_count,
                "goods_desc": _truncated(";".join(p["item_desc"] for p in shipment.parcels)),
                "shipping_list": [
                    {"tracking_no": p["tracking_no"], "express_company": p["express_company"],
                     "goods_desc": p["item_desc"], "upload_time": int(p["upload_time"]),
                     **({"contact": p["contact"]} if p["contact"] else {})}
                    for p in shipment.parcels
                ],
            }  # fmt: skip
        return order

    # The API ---------------------------------------------------------------------------------

    def upload(self, appid: str, cmd: Upload, now: float) -> None:
        trade = self.payment(appid, cmd.ref, now)
        if cmd.payer_openid != trade.openid:
            raise MpError(e.WRONG_PAYER, "该笔支付单不属于 openid 所指定的用户")
        existing = self.mp.shipments.get(trade.key)
        if self.refunded(trade) or (existing is not None and existing.confirmed_at is not None):
            raise MpError(e.NOT_SHIPPABLE, "支付单处于不可发货的状态")
        old_parcels: dict[tuple[object, ...], float] = {}
        reship = False
        if existing is not None:
            if _content(existing) == cmd.content():
                raise MpError(e.UNCHANGED, "发货信息未更新")
            if cmd.upload_time <= existing.upload_time:
                raise MpError(e.INVALID_ARGS, "invalid args: upload_time必须晚于上次上传的时间")
            reship = existing.finished or (existing.delivery_mode, existing.logistics_type) != (
                cmd.delivery_mode, cmd.logistics_type)  # fmt: skip
            if reship and existing.reship_used:
                raise MpError(e.RESHIP_USED, "支付单已使用重新发货机会")
            old_parcels = {_parcel_key(p): p["upload_time"] for p in existing.parcels}
        parcels = [{**p, "upload_time": old_parcels.get(_parcel_key(p), cmd.upload_time)} for p in cmd.parcels]
        finished = cmd.delivery_mode != SPLIT or bool(cmd.is_all_delivered)
        shipment = existing or Shipment(trade.key, appid, cmd.logistics_type, cmd.delivery_mode, None, [], 0.0, 0)
        newly_finished = finished and (reship or not shipment.finished)
        shipment.logistics_type, shipment.delivery_mode = cmd.logistics_type, cmd.delivery_mode
        shipment.is_all_delivered = cmd.is_all_delivered if cmd.delivery_mode == SPLIT else None
        shipment.parcels, shipment.upload_time = parcels, cmd.upload_time
        shipment.uploads += 1
        shipment.reship_used = shipment.reship_used or reship
        shipment.history.append({"at": now, "event": "re-ship" if reship else "upload"})
        if not finished:
            shipment.finished_at, shipment.auto_confirm_at = None, None
        elif newly_finished:
            shipment.finished_at = now
            shipment.finish_count += 1
            shipment.auto_confirm_at = now + self.config.auto_confirm_s
        self.mp.save_shipment(shipment)
        app = self.mp.app(appid)
        if not app.shipped_before:
            app.shipped_before = True
            self.mp.save_app(app)
        reminder = self.mp.reminders.get(trade.key)
        if finished and reminder is not None and not reminder.done:
            reminder.done = True
            self.mp.save_reminder(reminder)
        if newly_finished:
            self._push_settlement(trade, shipment, now)

    def notify_confirm_receive(self, appid: str, ref: PaymentRef, received_time: int, now: float) -> None:
        trade = self.payment(appid, ref, now)
        shipment = self.mp.shipments.get(trade.key)
        if shipment is None or shipment.finished_at is None:
            raise MpError(e.INVALID_ARGS, "invalid args: 订单尚未完成发货")
        if shipment.logistics_type != EXPRESS:
            raise MpError(e.INVALID_ARGS, "invalid args: 只有物流类型为物流快递时才能进行提醒")
        if shipment.confirm_reminded_at is not None:
            raise MpError(e.INVALID_ARGS, "invalid args: 每个订单仅可调用一次")
        if shipment.confirmed_at is not None:
            raise MpError(e.INVALID_ARGS, "invalid args: 用户已确认收货")
        if not shipment.finished_at <= received_time <= now:
            raise MpError(e.RECEIVED_TIME_INVALID, "签收时间不合理")
        shipment.confirm_reminded_at, shipment.received_time = now, float(received_time)
        shipment.history.append({"at": now, "event": "buyer reminded to confirm receipt"})
        self.mp.save_shipment(shipment)

    def orders(self, appid: str, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        """get_order_list: by pay time (both ends included), state and payer; ``last_index`` pages."""
        span = body.get("pay_time_range", {})
        if not isinstance(span, dict):
            raise _format("pay_time_range must be an object")
        begin, end = _optional_int(span, "begin_time"), _optional_int(span, "end_time")
        state, openid = _optional_int(body, "order_state"), str_field(body, "openid")
        size = _optional_int(body, "page_size") or MAX_PAGE_SIZE
        index = str_field(body, "last_index")
        if not 1 <= size <= MAX_PAGE_SIZE or (index and not index.isdigit()):
            raise MpError(e.INVALID_ARGS, "invalid args: page_size is 1-100 and last_index what a page gave")
        delay = self.injector.faults.shipping_payment_delay_s
        chosen = []
        for trade in self.state.trades.values():
            if trade.appid != appid or not trade.trade_state.paid or trade.paid_at is None:
                continue
            if now < trade.paid_at + delay or (openid and trade.openid != openid):
                continue
            if (begin is not None and trade.paid_at < begin) or (end is not None and trade.paid_at > end):
                continue
            if state is not None and self.order_state(trade, self.mp.shipments.get(trade.key)) != state:
                continue
            chosen.append(trade)
        chosen.sort(key=lambda t: (t.paid_at or 0.0, t.transaction_id))
        start = int(index or 0)
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        return {"order_list": [self.order_json(t) for t in page], "has_more": more,
                "last_index": str(start + len(page))}  # fmt: skip

    # What the buyer and time do --------------------------------------------------------------

    def confirm_receipt(self, trade: Trade, now: float) -> None:
        """The buyer confirms in WeChat's component (``wx.openBusinessView`` weappOrderConfirm)."""
        shipment = self.mp.shipments.get(trade.key)
        if shipment is None or not shipment.finished:
            raise MpError(e.INVALID_ARGS, "the order has not finished shipping")
        if self.refunded(trade) or shipment.confirmed_at is not None:
            raise MpError(e.NOT_SHIPPABLE, "the order is refunded or its receipt already confirmed")
        self._confirm(trade, shipment, CONFIRM_MANUAL, now)

    def on_paid(self, trade: Trade, now: float) -> None:
        """A payment through the payment sheet: remind about it in 48 h if still unshipped, and
        ask an app that never shipped to use the API (once)."""
        self.mp.save_reminder(Reminder(trade.key, trade.appid, now + REMIND_SHIPPING_AFTER_S))
        app = self.mp.app(trade.appid)
        if not app.shipped_before and not app.access_api_reminded and app.push_url:
            app.access_api_reminded = True
            self.mp.save_app(app)
            self.pusher.push(trade.appid, EVENT_REMIND_ACCESS_API,
                             {"msg": "请尽快接入发货信息管理服务API"}, now)  # fmt: skip

    def tick(self, now: float) -> None:
        """Every timer due by ``now``: auto-confirmation, settlement, the 48-hour reminder."""
        while due := self.mp.due_timers(now):
            for kind, key in due:
                trade = self.state.trades.get(key)
                if trade is None:
                    continue
                shipment = self.mp.shipments.get(key)
                if kind == "auto_confirm" and shipment is not None:
                    self._auto_confirm(trade, shipment)
                elif kind == "settle" and shipment is not None:
                    self._settle(trade, shipment)
                elif kind == "remind":
                    self._remind(trade, shipment, now)

    def _auto_confirm(self, trade: Trade, shipment: Shipment) -> None:
        at = shipment.auto_confirm_at
        if at is None or shipment.confirmed_at is not None or not shipment.finished or self.refunded(trade):
            return
        self._confirm(trade, shipment, CONFIRM_AUTO, at)

    def _confirm(self, trade: Trade, shipment: Shipment, method: int, at: float) -> None:
        shipment.confirmed_at, shipment.confirm_method = at, method
        shipment.settle_at = at + self.config.settlement_delay_s
        shipment.history.append({"at": at, "event": "receipt confirmed " + ("by the buyer" if method == 2 else "auto")})
        self.mp.save_shipment(shipment)
        if self.config.settlement_delay_s <= 0:
            self._settle(trade, shipment)

    def _settle(self, trade: Trade, shipment: Shipment) -> None:
        if shipment.settled_at is not None or shipment.settle_at is None or shipment.confirmed_at is None:
            return
        shipment.settled_at = shipment.settle_at
        shipment.history.append({"at": shipment.settled_at, "event": "settled"})
        self.mp.save_shipment(shipment)
        self._push_settlement(trade, shipment, shipment.settled_at)

    def _remind(self, trade: Trade, shipment: Shipment | None, now: float) -> None:
        reminder = self.mp.reminders.get(trade.key)
        if reminder is None or reminder.done:
            return
        reminder.done = True
        self.mp.save_reminder(reminder)
        if (shipment is not None and shipment.finished) or self.refunded(trade):
            return
        if self.mp.app(trade.appid).shipped_before:  # an app that never shipped gets remind_access_api
            fields = {**self._payment_fields(trade), "msg": "您有订单超过48小时未发货，请尽快发货"}
            self.pusher.push(trade.appid, EVENT_REMIND_SHIPPING, fields, now, mch_id=trade.mch_id,
                             ref=trade.out_trade_no)  # fmt: skip

    def _payment_fields(self, trade: Trade) -> dict[str, str | int]:
        return {"transaction_id": trade.transaction_id, "merchant_id": trade.mch_id, "sub_merchant_id": "",
                "merchant_trade_no": trade.out_trade_no, "pay_time": int(trade.paid_at or 0)}  # fmt: skip

    def _push_settlement(self, trade: Trade, shipment: Shipment, now: float) -> None:
        """On finishing shipping (settlement fields left out, as integrators see them) and on settling."""
        fields = self._payment_fields(trade)
        if shipment.finished_at is not None:
            fields["shipped_time"] = int(shipment.finished_at)
            fields["estimated_settlement_time"] = int(
                shipment.finished_at + self.config.auto_confirm_s + self.config.settlement_delay_s
            )
        if shipment.settled_at is not None and shipment.confirmed_at is not None:
            fields["confirm_receive_method"] = shipment.confirm_method or CONFIRM_AUTO
            fields["confirm_receive_time"] = int(shipment.confirmed_at)
            fields["settlement_time"] = int(shipment.settled_at)
        self.pusher.push(trade.appid, EVENT_ORDER_SETTLEMENT, fields, now, mch_id=trade.mch_id,
                         ref=trade.out_trade_no)  # fmt: skip


def _parcel_key(parcel: Mapping[str, Any]) -> tuple[object, ...]:
    contact = parcel.get("contact") or {}
    return (parcel["tracking_no"], parcel["express_company"], parcel["item_desc"], tuple(sorted(contact.items())))


def _content(shipment: Shipment) -> tuple[object, ...]:
    parcels = tuple(
        {k: p[k] for k in ("tracking_no", "express_company", "item_desc", "contact")} for p in shipment.parcels
    )
    delivered = shipment.is_all_delivered if shipment.delivery_mode == SPLIT else None
    return shipment.logistics_type, shipment.delivery_mode, delivered, parcels
