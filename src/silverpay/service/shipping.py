"""Shipping info for WeChat's shipping management: ask for a shipment, upload it, follow it to
settlement (SHIPPING.md §1; the states in :mod:`silverpay.domain.shipping`).

- :func:`request_shipment` (operator, or :func:`auto_ship` for virtual goods on payment) records
  the request under the order's row lock, with the one-re-ship rule, and the worker uploads it.
- :func:`submit` uploads outside any transaction. A lost answer (timeout) may have landed, so the
  next attempt asks ``get_order`` first; 10060001 (payment not known yet) is retried with backoff;
  10060002/3/4 are reconciled from ``get_order``; 10060023 is success; anything else BLOCKS the
  shipment with WeChat's error for an operator.
- :func:`refresh` reads ``get_order`` and moves the shipment to what WeChat's record says: the
  worker's slow poll of shipped orders, message pushes, and the buyer's "confirm receipt" all go
  through it — a push or a client callback alone never moves anything.

Every move is a guarded ``UPDATE … WHERE state IN (…)`` under the order's row lock, with its
event (``shipment.status``) in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.domain.orders import REFUNDABLE, OrderStatus
from silverpay.domain.shipping import (
    ALLOWED_FROM,
    MAX_RESHIPS,
    ShipmentState,
    WechatView,
    check_request,
    from_wechat,
    upload_landed,
)
from silverpay.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ShipmentConflict,
    ShippingPaymentUnknown,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)
from silverpay.service.context import ServiceContext
from silverpay.service.payments import bounded
from silverpay.store.claims import claim
from silverpay.store.ledger import CoreLedger, LedgerTx, OrderRow
from silverpay.store.models import Order, Product, User
from silverpay.store.models_shipping import Shipment
from silverpay.wechat.miniapp.shipping import (
    Contact,
    DeliveryMode,
    LogisticsType,
    OrderKey,
    OrderShipping,
    Parcel,
    ShippingClient,
    ShippingInfo,
    UploadResult,
)

log = logging.getLogger(__name__)

S = ShipmentState
SHIPPABLE = REFUNDABLE  # paid, not wholly refunded
OVERDUE_S = 24 * 3600  # the "to ship" queue puts orders unshipped this long first
MAX_UNKNOWN_ATTEMPTS = 20  # 10060001 this often (about two hours on the default schedule): BLOCKED
AUTO = "auto"
POLLED = (S.SHIPPED.value, S.RECEIVED.value)
AUTO_SHIP_WINDOW = timedelta(days=2)  # paid orders the auto-ship pass looks back on


@dataclass(frozen=True)
class ShipmentRequest:
    """What an operator asks WeChat to record (validated again as WeChat would before sending)."""

    logistics_type: int
    delivery_mode: int
    parcels: tuple[dict[str, Any], ...]  # {item_desc, tracking_no?, express_company?, contact?{consignor, receiver}}
    is_all_delivered: bool | None = None
    use_last_reship: bool = False

    def digest(self) -> str:
        document = [self.logistics_type, self.delivery_mode, list(self.parcels), self.is_all_delivered,
                    self.use_last_reship]  # fmt: skip
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class Next:
    """When the worker should look at a shipment again (None: nothing to do until something happens)."""

    delay_s: float | None
    attempts: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


def _client(ctx: ServiceContext) -> ShippingClient:
    if ctx.shipping is None:
        raise UpstreamMisconfigured("shipping management is not configured")
    return ctx.shipping


# Views ----------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parcel_view(parcel: dict[str, Any], *, contact: bool) -> dict[str, Any]:
    view = {k: parcel.get(k, "") for k in ("item_desc", "tracking_no", "express_company")}
    if contact:
        view["contact"] = parcel.get("contact") or {}
    return view


def shipment_view(shipment: Shipment | None, order_id: int) -> dict[str, Any]:
    """The operator's view of an order's shipment (a paid order without one is NOT_SHIPPED)."""
    if shipment is None:
        return {"order_id": order_id, "state": S.NOT_SHIPPED.value, "reships_left": MAX_RESHIPS,
                "completed_uploads": 0, "parcels": [], "error": None}  # fmt: skip
    return {
        "order_id": order_id,
        "state": shipment.state,
        "logistics_type": shipment.logistics_type,
        "delivery_mode": shipment.delivery_mode,
        "is_all_delivered": shipment.is_all_delivered,
        "parcels": [_parcel_view(p, contact=True) for p in shipment.parcels],
        "completed_uploads": shipment.completed_uploads,
        "reships_left": MAX_RESHIPS - shipment.reships_used,
        "requested_by": shipment.requested_by,
        "wechat_state": shipment.wechat_state,
        "error": {"code": shipment.error_code, "message": shipment.error_message} if shipment.error_code else None,
        "created_at": _iso(shipment.created_at),
        "updated_at": _iso(shipment.updated_at),
        "shipped_at": _iso(shipment.shipped_at),
        "received_at": _iso(shipment.received_at),
        "settled_at": _iso(shipment.settled_at),
        "next_check_at": _iso(shipment.next_check_at),
    }


def buyer_view(shipment: Shipment | None, order: Order) -> dict[str, Any]:
    """The buyer's order page: the state, what was sent, and what ``wx.openBusinessView`` needs."""
    state = S(shipment.state) if shipment else S.NOT_SHIPPED
    shown = state if state is not S.BLOCKED else S.NOT_SHIPPED  # the buyer does not see our trouble
    return {
        "order_id": order.id,
        "state": shown.value,
        "logistics_type": shipment.logistics_type if shipment else None,
        "parcels": [_parcel_view(p, contact=False) for p in shipment.parcels] if shipment else [],
        "transaction_id": order.transaction_id,  # extraData of wx.openBusinessView weappOrderConfirm
        "can_confirm_receipt": state is S.SHIPPED,
        "shipped_at": _iso(shipment.shipped_at) if shipment else None,
        "received_at": _iso(shipment.received_at) if shipment else None,
        "settled_at": _iso(shipment.settled_at) if shipment else None,
    }


# Reading ----------------------------------------------------------------------------------------


async def _shipment_of(db: AsyncSession, order_id: int, *, lock: bool = False) -> Shipment | None:
    query = select(Shipment).where(Shipment.order_id == order_id)
    if lock:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def shipment_of_order(ctx: ServiceContext, order_id: int) -> dict[str, Any]:
    async with ctx.sessions() as db:
        return shipment_view(await _shipment_of(db, order_id), order_id)


async def buyer_shipment(
    ctx: ServiceContext, user_id: int, order_id: int, *, refresh_first: bool = False
) -> dict[str, Any]:
    """The buyer's own order's shipment; ``refresh_first`` asks WeChat first (after "confirm receipt")."""
    async with ctx.sessions() as db:
        order = await db.get(Order, order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("no such order", code="ORDER_NOT_FOUND")
    if refresh_first and order.transaction_id:
        try:
            await refresh(ctx, order.id, source="buyer")
        except UpstreamError as error:  # the buyer sees what we know; the worker's poll catches up
            log.warning("buyer re-check of order %s deferred: %s", order.id, error.message)
    async with ctx.sessions() as db:
        return buyer_view(await _shipment_of(db, order.id), order)


async def queue(ctx: ServiceContext, state: ShipmentState | None, *, limit: int = 100) -> list[dict[str, Any]]:
    """Paid orders and their shipment state, orders unshipped (or blocked) for over 24 h first,
    then the oldest payments first. A paid order without a shipment is NOT_SHIPPED."""
    now = utc(ctx.clock())
    shipped_state = func.coalesce(Shipment.state, S.NOT_SHIPPED.value)
    waiting = shipped_state.in_([S.NOT_SHIPPED.value, S.BLOCKED.value])
    overdue = case((and_(waiting, Order.paid_at < now - timedelta(seconds=OVERDUE_S)), 0), else_=1)
    query = (
        select(Order, Shipment)
        .outerjoin(Shipment, Shipment.order_id == Order.id)
        .where(Order.status.in_([s.value for s in SHIPPABLE]), Order.transaction_id.is_not(None))
        .order_by(overdue, Order.paid_at, Order.id)
        .limit(limit)
    )
    if state is not None:
        query = query.where(shipped_state == state.value)
    async with ctx.sessions() as db:
        rows = (await db.execute(query)).all()
    items = []
    for order, shipment in rows:
        view = shipment_view(shipment, order.id)
        waited = (now - order.paid_at).total_seconds() if order.paid_at else 0
        items.append({**view, "out_trade_no": order.out_trade_no, "amount_fen": order.amount_fen,
                      "description": order.description, "paid_at": _iso(order.paid_at),
                      "overdue": view["state"] in (S.NOT_SHIPPED, S.BLOCKED) and waited > OVERDUE_S})  # fmt: skip
    return items


# Requests -----------------------------------------------------------------------------------------


def _parcels(request: ShipmentRequest) -> tuple[Parcel, ...]:
    parcels = []
    for p in request.parcels:
        contact = p.get("contact") or {}
        parcels.append(Parcel(item_desc=p.get("item_desc", ""), tracking_no=p.get("tracking_no") or "",
                              express_company=p.get("express_company") or "",
                              contact=Contact(contact.get("consignor", ""), contact.get("receiver", ""))))  # fmt: skip
    return tuple(parcels)


def _info(transaction_id: str, openid: str, shipment: Shipment) -> ShippingInfo:
    request = ShipmentRequest(shipment.logistics_type, shipment.delivery_mode, tuple(shipment.parcels),
                              shipment.is_all_delivered)  # fmt: skip
    try:
        logistics, mode = LogisticsType(request.logistics_type), DeliveryMode(request.delivery_mode)
    except ValueError:
        raise InvalidRequest("logistics_type must be 1-4 and delivery_mode 1 or 2") from None
    return ShippingInfo(OrderKey.of_transaction(transaction_id), logistics, mode, _parcels(request), openid,
                        shipment.upload_time.timestamp(), shipment.is_all_delivered)  # fmt: skip


async def request_shipment(
    ctx: ServiceContext, order_id: int, request: ShipmentRequest, *, requested_by: str,
    idempotency_key: str | None = None, submit_now: bool = True,
) -> Created:  # fmt: skip
    """Record a shipping request (the first, or the payment's one change) and upload it."""
    digest = request.digest()
    now = ctx.clock()
    async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
        order = await tx.lock(order_id)  # the order first, then its shipment: one lock order everywhere
        if order is None:
            raise NotFound("no such order", code="ORDER_NOT_FOUND")
        shipment = await _shipment_of(db, order.id, lock=True)
        if idempotency_key and shipment is not None and shipment.request_key == idempotency_key:
            if shipment.request_hash != digest:
                raise Conflict("Idempotency-Key was already used with a different request",
                               code="IDEMPOTENCY_KEY_REUSED")  # fmt: skip
            return Created(201, shipment_view(shipment, order.id), replayed=True)
        if OrderStatus(order.status) not in SHIPPABLE or not order.transaction_id:
            raise Conflict(f"an order in status {order.status} cannot be shipped", code="ORDER_NOT_SHIPPABLE")
        current = S(shipment.state) if shipment else S.NOT_SHIPPED
        check = check_request(current, completed_uploads=shipment.completed_uploads if shipment else 0,
                              reships_used=shipment.reships_used if shipment else 0,
                              use_last_reship=request.use_last_reship)  # fmt: skip
        user = await db.get(User, order.user_id)
        values: dict[str, Any] = {
            "state": S.SHIPPING_SUBMITTED.value, "logistics_type": request.logistics_type,
            "delivery_mode": request.delivery_mode, "is_all_delivered": request.is_all_delivered,
            "parcels": list(request.parcels), "upload_time": utc(now), "outcome_unknown": False,
            "requested_by": requested_by[:64], "request_key": idempotency_key, "request_hash": digest,
            "error_code": "", "error_message": "", "updated_at": utc(now), "next_check_at": utc(now),
            "check_attempts": 0,
            # The API call uploads it at once: the worker must not take it meanwhile.
            "lease_until": utc(now + 60) if submit_now else None,
        }  # fmt: skip
        if shipment is None:
            shipment = Shipment(order_id=order.id, completed_uploads=0, reships_used=0, wechat_state=None,
                                created_at=utc(now), **values)  # fmt: skip
            db.add(shipment)
        else:
            for name, value in values.items():
                setattr(shipment, name, value)
            shipment.reships_used += int(check.reship)
        _info(order.transaction_id, user.openid if user else "", shipment).check()  # 400 before anything is kept
        await db.flush()
        detail = {"by": requested_by, "logistics_type": request.logistics_type, "reship": check.reship,
                  "reships_left": check.reships_left_after, "parcels": len(request.parcels)}  # fmt: skip
        tx.event(order, "shipment.requested", detail, now=utc(now))
        _status_event(tx, order, current, S.SHIPPING_SUBMITTED, source=requested_by, now=now)
        shipment_id = shipment.id
    if submit_now:
        await _run(ctx, shipment_id, submit)
    async with ctx.sessions() as db:
        return Created(201, shipment_view(await db.get(Shipment, shipment_id), order_id))


def _status_event(tx: LedgerTx, order: OrderRow, old: ShipmentState, new: ShipmentState, *, source: str,
                  now: float, **detail: Any) -> None:  # fmt: skip
    if old is not new:
        tx.event(order, "shipment.status", {"from": old.value, "to": new.value, "source": source, **detail},
                 now=utc(now))  # fmt: skip


# Moving ---------------------------------------------------------------------------------------


async def _move(
    ctx: ServiceContext, shipment_id: int, to: ShipmentState | None, *, source: str,
    expect: ShipmentState | None = None, event: tuple[str, dict[str, Any]] | None = None, **values: Any,
) -> bool:  # fmt: skip
    """In one transaction under the order's lock: record ``values`` and move to ``to`` (None: stay)
    if the state allows (and is ``expect`` when given). False when it did not apply."""
    now = ctx.clock()
    async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
        found = await db.get(Shipment, shipment_id)
        if found is None:
            return False
        order = await tx.lock(found.order_id)
        shipment = await _shipment_of(db, found.order_id, lock=True)
        if order is None or shipment is None:
            return False
        current = S(shipment.state)
        if expect is not None and current is not expect:
            return False
        guard = [Shipment.id == shipment.id, Shipment.state == current.value]
        changes: dict[str, Any] = {"updated_at": utc(now), **values}
        if to is not None and to is not current:
            if current not in ALLOWED_FROM[to]:
                return False
            changes["state"] = to.value
            stamps = {S.SHIPPED: ("shipped_at",), S.RECEIVED: ("shipped_at", "received_at"),
                      S.SETTLED: ("shipped_at", "received_at", "settled_at")}.get(to, ())  # fmt: skip
            for stamp in stamps:  # a state WeChat skipped past (polled rarely) is dated when we learned it
                if getattr(shipment, stamp) is None:
                    changes.setdefault(stamp, utc(now))
        result = await db.execute(update(Shipment).where(*guard).values(**changes)
                                  .execution_options(synchronize_session=False))  # fmt: skip
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if event is not None:
            tx.event(order, event[0], event[1], now=utc(now))
        if to is not None:
            error = {"error": values["error_code"]} if values.get("error_code") else {}
            _status_event(tx, order, current, to, source=source, now=now, **error)
        return True


def _view(shipping: OrderShipping) -> WechatView:
    record = shipping.shipping
    return WechatView(int(shipping.state), record.finished if record else False, record.finish_count if record else 0)


def _wechat_values(shipping: OrderShipping, shipment: Shipment) -> dict[str, Any]:
    """What WeChat's record teaches about the counts (its finish count is the truth)."""
    view = _view(shipping)
    completed = min(max(view.finish_count, 0), 2)
    values: dict[str, Any] = {"wechat_state": view.order_state}
    if S(shipment.state) is not S.SHIPPING_SUBMITTED:  # (a request in flight keeps its counted re-ship)
        values |= {"completed_uploads": completed, "reships_used": max(completed - 1, 0)}
    return values


def _poll_delay(ctx: ServiceContext, state: ShipmentState, wechat_state: int | None) -> float | None:
    if state is S.SETTLED or wechat_state == 5:  # settled, or refunded at WeChat: nothing more to learn
        return None
    return float(ctx.shipping_poll_s) if state in (S.SHIPPED, S.RECEIVED) else None


# Uploading ------------------------------------------------------------------------------------


async def submit(ctx: ServiceContext, shipment: Shipment) -> Next:
    """Upload a SHIPPING_SUBMITTED shipment (see the module's doc for the outcomes)."""
    client = _client(ctx)
    async with ctx.sessions() as db:
        order = await db.get(Order, shipment.order_id)
        user = await db.get(User, order.user_id) if order else None
    if order is None or not order.transaction_id or user is None:
        return Next(None)
    key = OrderKey.of_transaction(order.transaction_id)
    attempts = shipment.check_attempts + 1
    if shipment.outcome_unknown:  # the last upload's answer was lost: did it land?
        shipping = await client.get_order(key)
        if upload_landed(_view(shipping), completed_before=shipment.completed_uploads):
            return await _shipped(ctx, shipment, shipping, source="get_order")
    try:
        result = await client.upload_shipping_info(_info(order.transaction_id, user.openid, shipment))
    except ShippingPaymentUnknown as error:
        if attempts >= MAX_UNKNOWN_ATTEMPTS:
            await _block(
                ctx,
                shipment,
                error.upstream_code,
                "WeChat's shipping management does not know this "
                "payment (10060001) after many tries: check the mini-program's order management binding",
            )
            return Next(None)
        await _note(ctx, shipment, "payment_unknown", error.upstream_code, error.message, outcome_unknown=False)
        return Next(ctx.shipping_retry_delay(attempts - 1), attempts)
    except ShipmentConflict as error:  # 10060002/3/4: never re-send; WeChat's record decides
        shipping = await client.get_order(key)
        if upload_landed(_view(shipping), completed_before=shipment.completed_uploads):
            return await _shipped(ctx, shipment, shipping, source=f"get_order after {error.upstream_code}")
        await _block(ctx, shipment, error.upstream_code, error.message)  # e.g. a change WeChat will not take
        return Next(None)
    except UpstreamUnavailable as error:  # timeout, busy, token trouble: the upload may have landed
        await _note(ctx, shipment, "unknown", "", error.message, outcome_unknown=True)
        return Next(ctx.shipping_retry_delay(attempts - 1), attempts)
    except (UpstreamRejected, UpstreamMisconfigured, InvalidRequest) as error:
        code = getattr(error, "upstream_code", "") or error.code
        await _block(ctx, shipment, code, error.message)
        return Next(None)
    outcome = "accepted" if result is UploadResult.ACCEPTED else "unchanged"
    completed = (
        shipment.completed_uploads + 1 if result is UploadResult.ACCEPTED else max(shipment.completed_uploads, 1)
    )
    moved = await _move(ctx, shipment.id, S.SHIPPED, source="upload", expect=S.SHIPPING_SUBMITTED,
                        completed_uploads=min(completed, 2), outcome_unknown=False, error_code="", error_message="",
                        event=("wechat.upload_shipping_info", {"outcome": outcome}))  # fmt: skip
    return Next(float(ctx.shipping_poll_s) if moved else None)


async def _shipped(ctx: ServiceContext, shipment: Shipment, shipping: OrderShipping, *, source: str) -> Next:
    values = _wechat_values(shipping, shipment)
    view = _view(shipping)
    completed = min(max(view.finish_count, 1), 2)
    target = from_wechat(S.SHIPPED, view) or S.SHIPPED
    await _move(ctx, shipment.id, target, source=source, expect=S.SHIPPING_SUBMITTED, outcome_unknown=False,
                error_code="", error_message="", wechat_state=values["wechat_state"], completed_uploads=completed,
                reships_used=min(max(completed - 1, shipment.reships_used), 1),
                event=("wechat.get_order", {"order_state": view.order_state, "finish_count": view.finish_count,
                                            "landed": True}))  # fmt: skip
    return Next(_poll_delay(ctx, target, view.order_state))


async def _note(ctx: ServiceContext, shipment: Shipment, outcome: str, code: str, message: str, *,
                outcome_unknown: bool) -> None:  # fmt: skip
    await _move(
        ctx,
        shipment.id,
        None,
        source="upload",
        expect=S.SHIPPING_SUBMITTED,
        outcome_unknown=outcome_unknown,
        error_code=code[:64],
        error_message=message[:255],
        event=("wechat.upload_shipping_info", {"outcome": outcome, "errcode": code, "message": message}),
    )


async def _block(ctx: ServiceContext, shipment: Shipment, code: str, message: str) -> None:
    log.warning("shipment of order %s blocked: %s %s", shipment.order_id, code, message)
    # Refused: a change asked for did not use WeChat's re-ship, so it stays available.
    await _move(
        ctx,
        shipment.id,
        S.BLOCKED,
        source="upload",
        expect=S.SHIPPING_SUBMITTED,
        outcome_unknown=False,
        error_code=(code or "UPSTREAM_REJECTED")[:64],
        error_message=message[:255],
        reships_used=max(shipment.completed_uploads - 1, 0),
        event=("wechat.upload_shipping_info", {"outcome": "refused", "errcode": code, "message": message}),
    )


# Following ------------------------------------------------------------------------------------


async def refresh(ctx: ServiceContext, order_id: int, *, source: str) -> ShipmentState:
    """Ask ``get_order`` and move the shipment to what WeChat's record says (made if WeChat shows
    shipping done elsewhere, e.g. by hand in the console). Returns the state after."""
    async with ctx.sessions() as db:
        order = await db.get(Order, order_id)
        shipment = await _shipment_of(db, order_id)
    if order is None or not order.transaction_id:
        raise NotFound("no such paid order", code="ORDER_NOT_FOUND")
    shipping = await _client(ctx).get_order(OrderKey.of_transaction(order.transaction_id))
    view = _view(shipping)
    if shipment is None:
        if view.order_state == 1:
            return S.NOT_SHIPPED
        shipment = await _adopt(ctx, order, shipping)
        if shipment is None:
            return S.NOT_SHIPPED
    current = S(shipment.state)
    target = from_wechat(current, view)
    detail = {"order_state": view.order_state, "finish_count": view.finish_count, "source": source}
    values = _wechat_values(shipping, shipment)
    after = target or current
    if after is not S.SHIPPING_SUBMITTED:  # (an upload in flight keeps the worker's schedule)
        delay = _poll_delay(ctx, after, view.order_state)
        if delay is None or shipment.next_check_at is None:  # the slow poll follows it from now on
            values["next_check_at"] = None if delay is None else utc(ctx.clock() + delay)
    await _move(ctx, shipment.id, target, source=source, event=("wechat.get_order", detail), **values)
    return after


async def _adopt(ctx: ServiceContext, order: Order, shipping: OrderShipping) -> Shipment | None:
    """A shipment WeChat has but we never asked for (shipped in the console): recorded as NOT_SHIPPED,
    then moved by the caller like any other."""
    record = shipping.shipping
    parcels = [{"item_desc": p.item_desc, "tracking_no": p.tracking_no, "express_company": p.express_company}
               for p in (record.parcels if record else ())]  # fmt: skip
    now = ctx.clock()
    async with ctx.sessions.begin() as db, CoreLedger.joining(await db.connection()) as tx:
        locked = await tx.lock(order.id)
        if locked is None:
            return None
        shipment = await _shipment_of(db, order.id, lock=True)
        if shipment is not None:
            return shipment
        shipment = Shipment(
            order_id=order.id, state=S.NOT_SHIPPED.value,
            logistics_type=int(record.logistics_type) if record and record.logistics_type else 0,
            delivery_mode=int(record.delivery_mode) if record and record.delivery_mode else 0,
            is_all_delivered=None, parcels=parcels, upload_time=utc(now), completed_uploads=0, reships_used=0,
            outcome_unknown=False, requested_by="wechat", request_key=None, request_hash="", wechat_state=None,
            error_code="", error_message="", created_at=utc(now), updated_at=utc(now), check_attempts=0,
        )  # fmt: skip
        db.add(shipment)
        await db.flush()
        tx.event(locked, "shipment.adopted", {"order_state": int(shipping.state)}, now=utc(now))
        return shipment


async def poll(ctx: ServiceContext, shipment: Shipment) -> Next:
    """The worker's slow poll of a shipped (or received) order."""
    state = await refresh(ctx, shipment.order_id, source="poll")
    async with ctx.sessions() as db:
        fresh = await db.get(Shipment, shipment.id)
    return Next(_poll_delay(ctx, state, fresh.wechat_state if fresh else None))


async def auto_ship(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    """Virtual goods whose product says ``auto_ship_virtual``: shipped as soon as they are paid."""
    if ctx.shipping is None:
        return 0
    async with ctx.sessions() as db:  # most shops sell no virtual goods: one tiny query per pass then
        if (await db.execute(select(Product.id).where(Product.auto_ship_virtual.is_(True)).limit(1))).first() is None:
            return 0
    since = utc(ctx.clock()) - AUTO_SHIP_WINDOW
    query = (
        select(Order.id, Order.description)
        .join(Product, Product.id == Order.product_id)
        .outerjoin(Shipment, Shipment.order_id == Order.id)
        .where(Order.status == OrderStatus.PAID.value, Order.transaction_id.is_not(None), Order.updated_at >= since,
               Product.auto_ship_virtual.is_(True), Shipment.id.is_(None))
        .order_by(Order.id)
        .limit(limit)
    )  # fmt: skip
    async with ctx.sessions() as db:
        due = (await db.execute(query)).all()
    created = 0
    for order_id, description in due:
        request = ShipmentRequest(int(LogisticsType.VIRTUAL), int(DeliveryMode.UNIFIED),
                                  ({"item_desc": description[:120] or "virtual goods"},))  # fmt: skip
        try:
            await request_shipment(ctx, order_id, request, requested_by=AUTO, submit_now=False)
            created += 1
        except (Conflict, NotFound, InvalidRequest) as error:  # another worker's, or refunded meanwhile
            log.info("auto-ship of order %s skipped: %s", order_id, error.message)
    return created


# The worker's passes ------------------------------------------------------------------------


async def _run(ctx: ServiceContext, shipment_id: int, step: Any) -> None:
    """One step on a shipment this caller holds the lease of (a claim, or a request's own upload),
    then its next check. That bookkeeping applies only while the lease is still the one it started
    with: an operator's request meanwhile (a re-ship) took the shipment over with a lease and a
    schedule of its own, which a step finishing late must not overwrite."""
    async with ctx.sessions() as db:
        shipment = await db.get(Shipment, shipment_id)
    if shipment is None:
        return
    lease = shipment.lease_until
    held = Shipment.lease_until.is_(None) if lease is None else Shipment.lease_until == lease
    try:
        outcome: Next = await step(ctx, shipment)
    except UpstreamError as error:
        log.warning("shipment of order %s: %s (retried later)", shipment.order_id, error.message)
        outcome = Next(ctx.shipping_retry_delay(shipment.check_attempts), shipment.check_attempts + 1)
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        await db.execute(
            update(Shipment).where(Shipment.id == shipment_id, held)
            .values(lease_until=None, check_attempts=outcome.attempts,
                    next_check_at=None if outcome.delay_s is None else utc(now + outcome.delay_s))
            .execution_options(synchronize_session=False)
        )  # fmt: skip


async def submit_due(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    if ctx.shipping is None:
        return 0
    now = ctx.clock()
    due = [Shipment.state == S.SHIPPING_SUBMITTED.value, Shipment.next_check_at <= utc(now)]
    ids = await claim(ctx.sessions, Shipment, due, now=now, limit=limit, order_by=Shipment.next_check_at)
    await bounded([_run(ctx, i, submit) for i in ids], concurrency)
    return len(ids)


async def poll_due(ctx: ServiceContext, *, limit: int, concurrency: int) -> int:
    if ctx.shipping is None:
        return 0
    now = ctx.clock()
    due = [Shipment.state.in_(POLLED), Shipment.next_check_at <= utc(now)]
    ids = await claim(ctx.sessions, Shipment, due, now=now, limit=limit, order_by=Shipment.next_check_at)
    await bounded([_run(ctx, i, poll) for i in ids], concurrency)
    return len(ids)
