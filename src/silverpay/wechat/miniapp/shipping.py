"""Shipping-info management (小程序发货信息管理服务, SHIPPING.md §1.2–1.5): neutral types in and out.

``POST {LOGIN_BASE}/wxa/sec/order/<name>?access_token=…`` for ``upload_shipping_info``,
``get_order``, ``get_order_list``, ``is_trade_managed`` and ``notify_confirm_receive``.

Requests are validated here as WeChat validates them (:class:`InvalidRequest` before anything is
sent), so a caller's mistake never costs a call, let alone the payment's one re-ship. Answers:

- 10060023 (the same shipping info again) is success: :attr:`UploadResult.UNCHANGED`;
- 10060001: :class:`ShippingPaymentUnknown` — common in the first minute after payment: retry
  with backoff;
- 10060002 / 10060003 / 10060004: :class:`ShipmentConflict` — never retry; read :meth:`get_order`;
- 40001 / 42001 / 40014 (token invalid or expired): the token is fetched again (``force=True``) and
  the call sent once more; a second refusal is :class:`AccessTokenRejected`;
- -1, 44990, 45009, 45011, timeouts and transport errors: :class:`UpstreamUnavailable`. For an
  upload the outcome is then UNKNOWN: ask :meth:`get_order` before sending it again, or a landed
  upload plus a second one burns the re-ship;
- configuration errors (40013, 48001, 61003, 61004, 61007, 61011, …): :class:`UpstreamMisconfigured`;
- any other errcode: :class:`UpstreamRejected` with ``upstream_code`` = the errcode.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from silverpay.beijing import BEIJING
from silverpay.errors import (
    AccessTokenRejected,
    InvalidRequest,
    ShipmentConflict,
    ShippingPaymentUnknown,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)
from silverpay.logs import redact_url_secrets
from silverpay.wechat.miniapp.token import TokenProvider
from silverpay.wechat.miniapp.wire import BUSY, errcode_of, errmsg_of, post_json

log = logging.getLogger(__name__)

ORDER_PATH = "/wxa/sec/order/"
MAX_PARCELS = 10  # the doc page says 15 today; older copies and SDKs say 10 (SHIPPING.md §1.3)
MAX_ITEM_DESC_CHARS = 120
MAX_TRACKING_NO_BYTES = 128
MAX_PAGE_SIZE = 100
SF_EXPRESS = "SF"  # 顺丰: a contact is required, masked
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{1,32}\Z")
# A masked phone number: digits and '*', at least one '*', the last four digits in clear.
MASKED_CONTACT = re.compile(r"(?=.*\*)[0-9*+\- ]*[0-9]{4}\Z")

PAYMENT_UNKNOWN = 10060001
CONFLICTS = {10060002: "already shipped", 10060003: "the one re-ship is used", 10060004: "not shippable"}
UNCHANGED = 10060023
TOKEN_REFUSED = {40001: "access_token invalid", 40014: "access_token invalid", 42001: "access_token expired"}
CONFIG_ERRORS = {
    40013: "invalid appid",
    41001: "access_token missing",
    48001: "API unauthorized: shipping management is not open for this mini-program",
    61003: "component is not authorized",
    61004: "the caller's IP is not in the whitelist",
    61007: "API unauthorized to component",
    61011: "invalid component",
}


class LogisticsType(IntEnum):
    EXPRESS = 1  # 实体物流 (快递)
    SAME_CITY = 2  # 同城配送
    VIRTUAL = 3  # 虚拟商品
    PICKUP = 4  # 用户自提


class DeliveryMode(IntEnum):
    UNIFIED = 1  # UNIFIED_DELIVERY: one parcel
    SPLIT = 2  # SPLIT_DELIVERY: several parcels (express only), ``is_all_delivered`` says when done


class OrderState(IntEnum):
    AWAITING_SHIPMENT = 1  # 待发货
    SHIPPED = 2  # 已发货
    RECEIPT_CONFIRMED = 3  # 确认收货
    COMPLETE = 4  # 交易完成 (settled)
    REFUNDED = 5  # 已退款
    AWAITING_SETTLEMENT = 6  # 资金待结算


class UploadResult(StrEnum):
    ACCEPTED = "ACCEPTED"
    UNCHANGED = "UNCHANGED"  # 10060023: WeChat already had exactly this; no re-ship was used


@dataclass(frozen=True)
class OrderKey:
    """A payment, by ``transaction_id`` or by ``mch_id`` + ``out_trade_no`` (one of the two)."""

    transaction_id: str = ""
    mch_id: str = ""
    out_trade_no: str = ""

    @classmethod
    def of_transaction(cls, transaction_id: str) -> OrderKey:
        return cls(transaction_id=transaction_id)

    @classmethod
    def of_out_trade_no(cls, mch_id: str, out_trade_no: str) -> OrderKey:
        return cls(mch_id=mch_id, out_trade_no=out_trade_no)

    def check(self) -> None:
        if self.transaction_id:
            if self.mch_id or self.out_trade_no:
                raise InvalidRequest("name the payment by transaction_id or by mch_id + out_trade_no, not both")
            return
        if not self.mch_id or not self.out_trade_no:
            raise InvalidRequest("name the payment by transaction_id or by mch_id + out_trade_no")
        if not OUT_TRADE_NO.match(self.out_trade_no):
            raise InvalidRequest("out_trade_no must be 1-32 letters, digits or _-|*")

    def upload_json(self) -> dict[str, Any]:
        if self.transaction_id:
            return {"order_number_type": 2, "transaction_id": self.transaction_id}
        return {"order_number_type": 1, "mchid": self.mch_id, "out_trade_no": self.out_trade_no}

    def query_json(self) -> dict[str, Any]:
        """get_order / notify_confirm_receive spell the fields differently from the upload."""
        if self.transaction_id:
            return {"transaction_id": self.transaction_id}
        return {"merchant_id": self.mch_id, "merchant_trade_no": self.out_trade_no}


@dataclass(frozen=True)
class Contact:
    """Phone numbers masked except their last four digits (``189****1234``)."""

    consignor: str = ""  # 寄件人
    receiver: str = ""  # 收件人

    def __bool__(self) -> bool:
        return bool(self.consignor or self.receiver)


@dataclass(frozen=True)
class Parcel:
    item_desc: str  # what is in it, <= 120 characters (``微信红包抱枕*1个``)
    tracking_no: str = ""  # express: required
    express_company: str = ""  # express: a get_delivery_list code (``YTO``, ``SF``, …)
    contact: Contact = Contact()


@dataclass(frozen=True)
class ShippingInfo:
    order: OrderKey
    logistics_type: LogisticsType
    delivery_mode: DeliveryMode
    parcels: tuple[Parcel, ...]
    payer_openid: str
    upload_time: float  # epoch seconds; an update must carry a later one
    is_all_delivered: bool | None = None  # split delivery: required; unified: not sent

    def check(self) -> None:
        """Raise :class:`InvalidRequest` for anything WeChat would refuse on its face."""
        self.order.check()
        try:
            logistics, mode = LogisticsType(self.logistics_type), DeliveryMode(self.delivery_mode)
        except ValueError:
            raise InvalidRequest("logistics_type must be 1-4 and delivery_mode 1 or 2") from None
        if not 1 <= len(self.parcels) <= MAX_PARCELS:
            raise InvalidRequest(f"a shipment has 1 to {MAX_PARCELS} parcels")
        if mode is DeliveryMode.SPLIT:
            if logistics is not LogisticsType.EXPRESS:
                raise InvalidRequest("split delivery is allowed only with express logistics")  # 10060006
            if self.is_all_delivered is None:
                raise InvalidRequest("split delivery must say whether everything is delivered")  # 10060007
        elif len(self.parcels) != 1:
            raise InvalidRequest("unified delivery has exactly one parcel")
        for parcel in self.parcels:
            _check_parcel(parcel, logistics)
        if not self.payer_openid:
            raise InvalidRequest("the payer's openid is required")
        if self.upload_time <= 0:
            raise InvalidRequest("upload_time must be a time")

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "order_key": self.order.upload_json(),
            "logistics_type": int(self.logistics_type),
            "delivery_mode": int(self.delivery_mode),
        }
        if self.delivery_mode is DeliveryMode.SPLIT:
            document["is_all_delivered"] = bool(self.is_all_delivered)
        document["shipping_list"] = [_parcel_json(p) for p in self.parcels]
        document["upload_time"] = format_upload_time(self.upload_time)
        document["payer"] = {"openid": self.payer_openid}
        return document


def _check_parcel(parcel: Parcel, logistics: LogisticsType) -> None:
    desc = parcel.item_desc.strip()
    if not desc:
        raise InvalidRequest("every parcel needs an item description")  # 10060008
    if len(parcel.item_desc) > MAX_ITEM_DESC_CHARS:
        raise InvalidRequest(f"item_desc is limited to {MAX_ITEM_DESC_CHARS} characters")  # 10060009
    if logistics is LogisticsType.EXPRESS:
        if not parcel.tracking_no:
            raise InvalidRequest("express parcels need a tracking number")  # 268485226
        if not parcel.express_company:
            raise InvalidRequest("express parcels need the express company's code")  # 268485227
    if len(parcel.tracking_no.encode()) > MAX_TRACKING_NO_BYTES:
        raise InvalidRequest(f"tracking_no is limited to {MAX_TRACKING_NO_BYTES} bytes")
    if parcel.express_company == SF_EXPRESS and not parcel.contact:
        raise InvalidRequest("SF Express parcels need the consignor's or the receiver's (masked) phone")
    for number in (parcel.contact.consignor, parcel.contact.receiver):
        if number and not MASKED_CONTACT.match(number):
            raise InvalidRequest("contact numbers must be masked with * except their last four digits")


def _parcel_json(parcel: Parcel) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if parcel.tracking_no:
        item["tracking_no"] = parcel.tracking_no
    if parcel.express_company:
        item["express_company"] = parcel.express_company
    item["item_desc"] = parcel.item_desc
    if parcel.contact:
        contact = {"consignor_contact": parcel.contact.consignor, "receiver_contact": parcel.contact.receiver}
        item["contact"] = {k: v for k, v in contact.items() if v}
    return item


def format_upload_time(epoch_s: float) -> str:
    """RFC 3339 in Beijing time with milliseconds, as WeChat's example: ``2022-12-15T13:29:35.120+08:00``."""
    return datetime.fromtimestamp(epoch_s, BEIJING).isoformat(timespec="milliseconds")


# Answers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedParcel:
    tracking_no: str
    express_company: str
    item_desc: str
    uploaded_at: float | None
    contact: Contact = Contact()


@dataclass(frozen=True)
class ShippingRecord:
    """What WeChat holds about the shipping of one payment."""

    logistics_type: LogisticsType | None
    delivery_mode: DeliveryMode | None
    finished: bool  # everything shipped (unified: once uploaded; split: is_all_delivered)
    finish_count: int  # how often shipping was completed: 0, 1, or 2 once the one re-ship is used
    goods_desc: str
    parcels: tuple[ShippedParcel, ...] = ()


@dataclass(frozen=True)
class OrderShipping:
    """``get_order``'s view of one payment."""

    transaction_id: str
    mch_id: str
    out_trade_no: str
    openid: str
    description: str
    paid_fen: int
    state: OrderState
    created_at: float | None = None
    paid_at: float | None = None
    in_complaint: bool = False
    shipping: ShippingRecord | None = None

    @property
    def reship_used(self) -> bool:
        return self.shipping is not None and self.shipping.finish_count >= 2


@dataclass(frozen=True)
class OrderPage:
    orders: tuple[OrderShipping, ...]
    last_index: str  # pass back to get the next page
    has_more: bool


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _ContactWire(_Wire):
    consignor_contact: str = ""
    receiver_contact: str = ""


class _ParcelWire(_Wire):
    tracking_no: str = ""
    express_company: str = ""
    goods_desc: str = ""
    item_desc: str = ""
    upload_time: int = 0
    contact: _ContactWire | None = None


class _ShippingWire(_Wire):
    delivery_mode: int = 0
    logistics_type: int = 0
    finish_shipping: bool = False
    finish_shipping_count: int = 0
    goods_desc: str = ""
    shipping_list: list[_ParcelWire] = []


class _OrderWire(_Wire):
    transaction_id: str
    merchant_id: str = ""
    merchant_trade_no: str = ""
    openid: str = ""
    description: str = ""
    paid_amount: int = 0
    trade_create_time: int = 0
    pay_time: int = 0
    in_complaint: bool = False
    order_state: int
    shipping: _ShippingWire | None = None


def _time(value: int) -> float | None:
    return float(value) if value > 0 else None


def _logistics(value: int) -> LogisticsType | None:
    return LogisticsType(value) if value in LogisticsType._value2member_map_ else None


def _mode(value: int) -> DeliveryMode | None:
    return DeliveryMode(value) if value in DeliveryMode._value2member_map_ else None


def _order(document: Any) -> OrderShipping:
    try:
        wire = _OrderWire.model_validate(document)
        state = OrderState(wire.order_state)
    except (ValidationError, ValueError):
        raise UpstreamUnavailable("get_order answered an order silverpay cannot read") from None
    shipping = None
    if wire.shipping is not None:
        s = wire.shipping
        parcels = tuple(
            ShippedParcel(
                tracking_no=p.tracking_no, express_company=p.express_company, item_desc=p.goods_desc or p.item_desc,
                uploaded_at=_time(p.upload_time),
                contact=Contact(p.contact.consignor_contact, p.contact.receiver_contact) if p.contact else Contact(),
            )
            for p in s.shipping_list
        )  # fmt: skip
        shipping = ShippingRecord(
            logistics_type=_logistics(s.logistics_type), delivery_mode=_mode(s.delivery_mode),
            finished=s.finish_shipping, finish_count=s.finish_shipping_count, goods_desc=s.goods_desc, parcels=parcels,
        )  # fmt: skip
    return OrderShipping(
        transaction_id=wire.transaction_id, mch_id=wire.merchant_id, out_trade_no=wire.merchant_trade_no,
        openid=wire.openid, description=wire.description, paid_fen=wire.paid_amount, state=state,
        created_at=_time(wire.trade_create_time), paid_at=_time(wire.pay_time), in_complaint=wire.in_complaint,
        shipping=shipping,
    )  # fmt: skip


# The client -----------------------------------------------------------------------------------


@dataclass
class ShippingClient:
    """The shipping API family over an injected ``httpx.AsyncClient``; tokens from ``get_token``
    (the service backs it with its database, see :mod:`.token`)."""

    http: httpx.AsyncClient
    base_url: str
    get_token: TokenProvider = field(repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        redact_url_secrets()  # the token rides in the query string, which httpx logs at INFO

    async def upload_shipping_info(self, info: ShippingInfo) -> UploadResult:
        """Record (or, once, change) the shipping of a payment."""
        info.check()
        body = await self._call("upload_shipping_info", info.to_json(), allow=frozenset({UNCHANGED}))
        return UploadResult.UNCHANGED if errcode_of(body) == UNCHANGED else UploadResult.ACCEPTED

    async def get_order(self, key: OrderKey) -> OrderShipping:
        key.check()
        body = await self._call("get_order", key.query_json())
        return _order(body.get("order"))

    async def get_order_list(
        self,
        *,
        state: OrderState | None = None,
        openid: str = "",
        paid_from: float | None = None,
        paid_to: float | None = None,
        last_index: str = "",
        page_size: int = MAX_PAGE_SIZE,
    ) -> OrderPage:
        """Payments by pay time (both ends included), state and payer, a page at a time."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"page_size must be 1 to {MAX_PAGE_SIZE}")
        payload: dict[str, Any] = {"page_size": page_size}
        if paid_from is not None or paid_to is not None:
            span: dict[str, int] = {}
            if paid_from is not None:
                span["begin_time"] = int(paid_from)
            if paid_to is not None:
                span["end_time"] = int(paid_to)
            payload["pay_time_range"] = span
        if state is not None:
            payload["order_state"] = int(state)
        if openid:
            payload["openid"] = openid
        if last_index:
            payload["last_index"] = last_index
        body = await self._call("get_order_list", payload)
        orders, more, index = body.get("order_list", []), body.get("has_more", False), body.get("last_index", "")
        if not isinstance(orders, list) or not isinstance(more, bool) or not isinstance(index, str):
            raise UpstreamUnavailable("get_order_list answered a list silverpay cannot read")
        return OrderPage(tuple(_order(o) for o in orders), index, more)

    async def is_trade_managed(self, appid: str) -> bool:
        """Is this mini-program under shipping management (must it upload shipping info)?"""
        body = await self._call("is_trade_managed", {"appid": appid})
        managed = body.get("is_trade_managed")
        if not isinstance(managed, bool):
            raise UpstreamUnavailable("is_trade_managed answered without is_trade_managed")
        return managed

    async def notify_confirm_receive(self, key: OrderKey, received_at: float) -> None:
        """Remind the buyer to confirm receipt (express only, once per payment); ``received_at``
        is when the carrier delivered, after the shipping time."""
        key.check()
        await self._call("notify_confirm_receive", {**key.query_json(), "received_time": int(received_at)})

    # Calls ------------------------------------------------------------------------------------

    async def _call(
        self, name: str, payload: Mapping[str, Any], *, allow: frozenset[int] = frozenset()
    ) -> dict[str, Any]:
        """Send; a refused token is fetched again and the call sent once more (it had no effect)."""
        body = await self._send(name, payload, await self.get_token(False))
        if errcode_of(body) in TOKEN_REFUSED:
            log.info("wxa/sec/order/%s: token refused (errcode %s), fetching it again", name, errcode_of(body))
            body = await self._send(name, payload, await self.get_token(True))
            errcode = errcode_of(body)
            if errcode in TOKEN_REFUSED:
                raise AccessTokenRejected(f"{name}: a fresh access_token was refused too ({TOKEN_REFUSED[errcode]})")
        errcode = errcode_of(body)
        if errcode == 0 or errcode in allow:
            return body
        raise _error(name, errcode, errmsg_of(body))

    async def _send(self, name: str, payload: Mapping[str, Any], token: str) -> dict[str, Any]:
        url = self.base_url + ORDER_PATH + name
        return await post_json(self.http, url, payload, what=name, params={"access_token": token})


def _error(name: str, errcode: int, errmsg: str) -> Exception:
    message = f"{name}: errcode {errcode} {errmsg}".rstrip()
    if errcode == PAYMENT_UNKNOWN:
        return ShippingPaymentUnknown(message, upstream_code=str(errcode))
    if errcode in CONFLICTS:
        return ShipmentConflict(f"{name}: {CONFLICTS[errcode]} (errcode {errcode})", upstream_code=str(errcode))
    if errcode in BUSY:
        return UpstreamUnavailable(f"{name}: {BUSY[errcode]} (errcode {errcode})")
    if errcode in CONFIG_ERRORS:
        log.error("wxa/sec/order/%s refused our configuration: errcode=%s (%s)", name, errcode, CONFIG_ERRORS[errcode])
        return UpstreamMisconfigured(f"{name}: {CONFIG_ERRORS[errcode]} (errcode {errcode})")
    return UpstreamRejected(message, upstream_code=str(errcode))
