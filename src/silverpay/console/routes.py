"""The console's pages and actions at ``/console/``. Every read and every action calls the same
service function as the ``/api/v1/admin/...`` endpoint that does it; this module only turns forms
into arguments and answers into pages (or, for htmx, the fragment it swaps)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.responses import HTMLResponse

from silverpay.api.deps import Context
from silverpay.api.schemas import MAX_ID, PathId, ProductCreate, ProductUpdate, RefundCreate, ShipmentCreate
from silverpay.api.schemas_console import OperatorCreate, OperatorUpdate, ReviewResolve
from silverpay.console import format as fmt
from silverpay.console import views
from silverpay.console.auth import (
    SESSION_COOKIE,
    AsFinance,
    AsOwner,
    AsSupport,
    AsViewer,
    SignedIn,
    client_ip,
    form_of,
    secure_cookie,
)
from silverpay.console.i18n import LANGUAGES, translator
from silverpay.console.render import LANG_COOKIE, TZ_COOKIE, render, viewer_of
from silverpay.domain.money import parse_yuan
from silverpay.domain.operators import Role
from silverpay.domain.orders import OrderStatus
from silverpay.domain.refunds import RefundStatus
from silverpay.domain.shipping import ShipmentState
from silverpay.errors import InvalidRequest, RequestError, Throttled, Unauthorized, UpstreamError
from silverpay.service import (
    admin,
    audit,
    catalogue,
    console_queries,
    observability,
    operators,
    reconcile,
    refunds,
    shipping,
)

router = APIRouter(prefix="/console", include_in_schema=False)
M = TypeVar("M", bound=BaseModel)
LOGIN_CSRF_COOKIE = "silverpay_login_csrf"
REFUND_KEY = re.compile(r"console-[A-Za-z0-9_-]{16,64}")


def _next(value: str | None) -> str:
    return value if value and value.startswith("/console/") and "//" not in value else "/console/orders"


# Signing in and out ------------------------------------------------------------------------------


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/orders", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str = "", expired: str = "", signed_out: str = "") -> HTMLResponse:
    viewer = viewer_of(request)
    _ = translator(viewer.lang)
    message, kind = "", ""
    if expired:
        message, kind = _("Your session has ended; please sign in again."), "warn"
    elif signed_out:
        message, kind = _("You have been signed out."), "ok"
    return _login_form(request, next, message, kind)


def _login_form(request: Request, next_path: str, message: str, kind: str, *, email: str = "",
                status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:  # fmt: skip
    """The sign-in form, with a fresh pre-session CSRF token (a cookie and the same value in the form)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", viewer_of(request, csrf=token), status=status, headers=headers,
                      next=_next(next_path), message=message, message_kind=kind, email=email)  # fmt: skip
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookie(request),
                        path="/console/login")  # fmt: skip
    return response


@router.post("/login")
async def login(request: Request, ctx: Context) -> Response:
    form = await form_of(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    next_path = _next(form.get("next"))
    email = form.get("email", "")[:254]
    if not expected or not secrets.compare_digest(expected, form.get("csrf_token", "")):
        stale = translator(viewer_of(request).lang)("The sign-in form was stale: please sign in again.")
        return _login_form(request, next_path, stale, "error", email=email, status=403)
    try:
        signed_in = await operators.login(ctx, email, form.get("password", ""), client_ip(request))
    except Throttled as locked:
        return _login_form(request, next_path, locked.message, "error", email=email, status=429,
                           headers={"Retry-After": str(locked.retry_after_s)})  # fmt: skip
    except Unauthorized as refused:
        return _login_form(request, next_path, refused.message, "error", email=email, status=401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE, signed_in.session_token, httponly=True, samesite="strict",
                        secure=secure_cookie(request), path="/")  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    zone = form.get("tz", "")
    if zone and fmt.zone(zone, "UTC").key == zone:  # the browser's zone, if it is one we know
        response.set_cookie(TZ_COOKIE, zone, samesite="strict", path="/console", max_age=365 * 86400)
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Context, session: AsViewer) -> RedirectResponse:
    await operators.logout(ctx, session.session_token)
    response = RedirectResponse("/console/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookie(request))
    return response


@router.get("/lang/{language}")
async def choose_language(language: str, next: str = "/console/orders") -> RedirectResponse:
    response = RedirectResponse(_next(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, samesite="strict", path="/console", max_age=365 * 86400)
    return response


# The order page -----------------------------------------------------------------------------------


async def _order_page(request: Request, ctx: Context, session: SignedIn, order_id: int, *,
                      message: str = "", kind: str = "ok", status: int = 200) -> HTMLResponse:  # fmt: skip
    order = await admin.order_detail(ctx, order_id)
    return render(
        request, "order.html", viewer_of(request, session.operator, session.csrf), status=status,
        order=order, timeline=views.timeline(order), actions=views.actions(order, session.operator.role),
        refund_key="console-" + secrets.token_urlsafe(18), last_reship=views.last_reship(order), message=message,
        message_kind=kind,
    )  # fmt: skip


@router.get("/orders/{order_id}")
async def order_page(
    order_id: PathId, request: Request, ctx: Context, session: AsViewer, done: str = ""
) -> HTMLResponse:
    message = translator(viewer_of(request).lang)("Done.") if done else ""
    return await _order_page(request, ctx, session, order_id, message=message)


async def _acted(request: Request, ctx: Context, session: SignedIn, order_id: int) -> Response:
    """After an action: htmx swaps the refreshed order; a plain form post is redirected (no re-post on reload)."""
    if request.headers.get("hx-request") == "true":
        done = translator(viewer_of(request).lang)("Done.")
        return await _order_page(request, ctx, session, order_id, message=done)
    return RedirectResponse(f"/console/orders/{order_id}?done=1", status_code=303)


async def _refused(request: Request, ctx: Context, session: SignedIn, order_id: int, error: Exception) -> Response:
    status = error.status if isinstance(error, RequestError) else 502
    message = error.message if isinstance(error, RequestError | UpstreamError) else str(error)
    return await _order_page(request, ctx, session, order_id, message=message, kind="error", status=status)


def checked(model: type[M], **values: Any) -> M:
    """The form's values through the JSON API's own request model: the same limits, the same refusals."""
    try:
        return model(**values)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidRequest(f"{field}: {first['msg']}") from None


def yuan_field(text: str, name: str) -> int:
    try:
        return parse_yuan(text)
    except ValueError:
        raise InvalidRequest(f"{name}: yuan with at most two decimals, e.g. 12.30") from None


@router.post("/orders/{order_id}/refund")
async def refund(order_id: PathId, request: Request, ctx: Context, session: AsFinance) -> Response:
    """Refund part or all of the order (finance): ``POST /api/v1/admin/orders/{id}/refunds``'s use case."""
    form = await form_of(request)
    try:
        if not form.get("reason", "").strip():
            raise InvalidRequest("reason: a refund needs a reason", code="REASON_REQUIRED")
        body = checked(RefundCreate, amount_fen=yuan_field(form.get("amount", ""), "amount"),
                       reason=form["reason"].strip())  # fmt: skip
        # The form's own key: a second submit of the same form (a double click) replays the first refund.
        key = form.get("idempotency_key", "")
        await refunds.create_refund(ctx, order_id, body.amount_fen, body.reason,
                                    key if REFUND_KEY.fullmatch(key) else None, actor=session.operator)  # fmt: skip
    except (RequestError, UpstreamError) as error:
        return await _refused(request, ctx, session, order_id, error)
    return await _acted(request, ctx, session, order_id)


async def _act(request: Request, ctx: Context, session: SignedIn, order_id: int, action: Awaitable[object]) -> Response:
    """Run an order action: the order page again with "done", or with the refusal."""
    try:
        await action
    except (RequestError, UpstreamError) as error:
        return await _refused(request, ctx, session, order_id, error)
    return await _acted(request, ctx, session, order_id)


@router.post("/orders/{order_id}/requery")
async def requery(order_id: PathId, request: Request, ctx: Context, session: AsSupport) -> Response:
    """Ask WeChat about the order now (support)."""
    return await _act(request, ctx, session, order_id, admin.requery(ctx, order_id, actor=session.operator))


@router.post("/orders/{order_id}/close")
async def close(order_id: PathId, request: Request, ctx: Context, session: AsSupport) -> Response:
    """Close an unpaid order, at WeChat first (support)."""
    return await _act(request, ctx, session, order_id, admin.close(ctx, order_id, actor=session.operator))


@router.post("/orders/{order_id}/resolve")
async def resolve(order_id: PathId, request: Request, ctx: Context, session: AsFinance) -> Response:
    """Mark the order's review flag resolved, with a note (finance)."""
    form = await form_of(request)
    try:
        body = checked(ReviewResolve, note=form.get("note", "").strip())
        await admin.resolve_review(ctx, order_id, body.note, actor=session.operator)
    except RequestError as error:
        return await _refused(request, ctx, session, order_id, error)
    return await _acted(request, ctx, session, order_id)


@router.post("/orders/{order_id}/refunds/{refund_id}/resend")
async def resend(order_id: PathId, refund_id: PathId, request: Request, ctx: Context, session: AsSupport) -> Response:
    """Re-send a refund WeChat has not acknowledged, or ask WeChat about it (support)."""
    return await _act(request, ctx, session, order_id, admin.resend_refund(ctx, refund_id, actor=session.operator))


# Products -----------------------------------------------------------------------------------------


@router.get("/products")
async def products_page(request: Request, ctx: Context, session: AsViewer) -> HTMLResponse:
    items = await catalogue.list_products(ctx, include_inactive=True)
    return render(request, "products.html", viewer_of(request, session.operator, session.csrf), products=items,
                  message="", message_kind="ok")  # fmt: skip


async def _products_after(request: Request, ctx: Context, session: SignedIn, error: RequestError | None) -> Response:
    if error is None and request.headers.get("hx-request") != "true":
        return RedirectResponse("/console/products", status_code=303)
    items = await catalogue.list_products(ctx, include_inactive=True)
    _ = translator(viewer_of(request).lang)
    return render(request, "products.html", viewer_of(request, session.operator, session.csrf), products=items,
                  message=error.message if error else _("Done."), message_kind="error" if error else "ok",
                  status=error.status if error else 200)  # fmt: skip


@router.post("/products")
async def create_product(request: Request, ctx: Context, session: AsOwner) -> Response:
    form = await form_of(request)
    try:
        body = checked(ProductCreate, name=form.get("name", "").strip(), price_fen=yuan_field(form.get("price", ""),
                       "price"))  # fmt: skip
        await catalogue.create_product(ctx, body.name, body.price_fen, body.active, actor=session.operator)
    except RequestError as error:
        return await _products_after(request, ctx, session, error)
    return await _products_after(request, ctx, session, None)


@router.post("/products/{product_id}")
async def update_product(product_id: PathId, request: Request, ctx: Context, session: AsOwner) -> Response:
    form = await form_of(request)
    try:
        price = yuan_field(form["price"], "price") if form.get("price") else None
        body = checked(ProductUpdate, price_fen=price, active={"1": True, "0": False}.get(form.get("active", "")))
        await catalogue.update_product(ctx, product_id, name=None, price_fen=body.price_fen, active=body.active,
                                       actor=session.operator)  # fmt: skip
    except RequestError as error:
        return await _products_after(request, ctx, session, error)
    return await _products_after(request, ctx, session, None)


# Reconciliation -----------------------------------------------------------------------------------


async def _reconciliation(request: Request, ctx: Context, session: SignedIn, run_id: int | None, *,
                          message: str = "", kind: str = "ok", status: int = 200) -> HTMLResponse:  # fmt: skip
    runs = await reconcile.list_runs(ctx, limit=60)
    run_id = run_id or (runs[0]["id"] if runs else None)
    chosen = await reconcile.get_run(ctx, run_id) if run_id else None
    return render(request, "reconciliation.html", viewer_of(request, session.operator, session.csrf), runs=runs,
                  run=chosen, message=message, message_kind=kind, status=status)  # fmt: skip


@router.get("/reconciliation")
async def reconciliation_page(
    request: Request, ctx: Context, session: AsViewer, run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    return await _reconciliation(request, ctx, session, run)


# Lists ------------------------------------------------------------------------------------------

PER_PAGE = 50
FILTERS = ("q", "status", "date_from", "date_to", "min_yuan", "max_yuan")


def _day(text: str, name: str, tz: ZoneInfo) -> datetime | None:
    """A date field as the start of that day in the operator's time zone."""
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time.min, tz)
    except ValueError:
        raise InvalidRequest(f"{name}: a date, YYYY-MM-DD") from None


def _page_url(path: str, params: dict[str, str], page: int) -> str:
    return path + "?" + urlencode({**{k: v for k, v in params.items() if v and k != "page"}, "page": page})


@router.get("/orders")
async def orders_page(request: Request, ctx: Context, session: AsViewer) -> HTMLResponse:
    """Search by out_trade_no, transaction_id, openid or user; filter by status, dates, amounts, review."""
    params = {k: v.strip() for k, v in request.query_params.items()}
    viewer = viewer_of(request, session.operator, session.csrf)
    filters: dict[str, Any] = {name: params.get(name, "") for name in FILTERS}
    filters["needs_review"] = params.get("needs_review") == "1"
    page = int(params["page"]) if params.get("page", "").isdigit() and 0 < int(params["page"]) < 10**6 else 1
    message = ""
    try:
        until = _day(filters["date_to"], "to", viewer.tz)
        found = await console_queries.search_orders(
            ctx, q=filters["q"][:64], status=filters["status"] or None,
            created_from=_day(filters["date_from"], "from", viewer.tz),
            created_to=until + timedelta(days=1) if until else None,
            min_fen=yuan_field(filters["min_yuan"], "min") if filters["min_yuan"] else None,
            max_fen=yuan_field(filters["max_yuan"], "max") if filters["max_yuan"] else None,
            needs_review=True if filters["needs_review"] else None, page=page, per_page=PER_PAGE,
        )  # fmt: skip
    except RequestError as error:
        message = error.message
        found = {"items": [], "total": 0, "amount_fen": 0, "paid_fen": 0, "page": 1, "per_page": PER_PAGE}
    pages = max(1, -(-found["total"] // PER_PAGE))
    result = {**found, "pages": pages,
              "previous": _page_url("/console/orders", params, page - 1) if page > 1 else "",
              "next": _page_url("/console/orders", params, page + 1) if page < pages else ""}  # fmt: skip
    return render(request, "orders.html", viewer, filters=filters, result=result, message=message,
                  statuses=[s.value for s in OrderStatus])  # fmt: skip


@router.get("/review")
async def review_page(request: Request, ctx: Context, session: AsViewer) -> HTMLResponse:
    orders = await console_queries.review_queue(ctx)
    return render(request, "review.html", viewer_of(request, session.operator, session.csrf), orders=orders)


@router.get("/refunds")
async def refunds_page(
    request: Request, ctx: Context, session: AsViewer, status: str = "", page: int = 1
) -> HTMLResponse:
    statuses = [s.value for s in RefundStatus]
    chosen = status if status in {*statuses, "stale"} else ""
    found = await console_queries.list_refunds(ctx, status=chosen or None, page=max(1, min(page, 10**6)),
                                               per_page=PER_PAGE)  # fmt: skip
    stale = await console_queries.list_refunds(ctx, status="stale", per_page=1)
    pages = max(1, -(-found["total"] // PER_PAGE))
    params = {"status": chosen}
    return render(request, "refunds.html", viewer_of(request, session.operator, session.csrf), refunds=found["items"],
                  statuses=[*statuses, "stale"], chosen=chosen, late_count=stale["total"], page=found["page"],
                  pages=pages, previous=_page_url("/console/refunds", params, page - 1) if page > 1 else "",
                  next=_page_url("/console/refunds", params, page + 1) if page < pages else "")  # fmt: skip


@router.get("/notifications")
async def notifications_page(request: Request, ctx: Context, session: AsViewer, hours: int = 24) -> HTMLResponse:
    found = await console_queries.rejected_notifications(ctx, hours=max(1, min(hours, 24 * 31)))
    return render(request, "notifications.html", viewer_of(request, session.operator, session.csrf), found=found)


@router.post("/reconciliation/run")
async def rerun_reconciliation(request: Request, ctx: Context, session: AsFinance) -> Response:
    """Reconcile a past day again (finance), then show its run."""
    form = await form_of(request)
    try:
        try:
            day = date.fromisoformat(form.get("date", ""))
        except ValueError:
            raise InvalidRequest("date: YYYY-MM-DD") from None
        run = await admin.rerun_reconciliation(ctx, day, actor=session.operator)
    except (RequestError, UpstreamError) as error:
        status = error.status if isinstance(error, RequestError) else 502
        return await _reconciliation(request, ctx, session, None, message=error.message, kind="error", status=status)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/console/reconciliation?run={run['id']}", status_code=303)
    done = translator(viewer_of(request).lang)("Done.")
    return await _reconciliation(request, ctx, session, run["id"], message=done, kind="ok")


# Health -------------------------------------------------------------------------------------------


@router.get("/health")
async def health_page(request: Request, ctx: Context, session: AsViewer) -> HTMLResponse:
    report = await console_queries.health(ctx, api_version=request.app.state.wechat_api_version)
    ready = await observability.readiness(ctx)
    return render(request, "health.html", viewer_of(request, session.operator, session.csrf), report=report,
                  ready=ready)  # fmt: skip


# Shipping -----------------------------------------------------------------------------------------


def _ship_body(form: dict[str, str]) -> ShipmentCreate:
    """The form's one parcel through the API's own model (a contact only when given: SF express needs one)."""
    parcel: dict[str, Any] = {name: form.get(name, "").strip() for name in ("item_desc", "tracking_no",
                                                                             "express_company")}  # fmt: skip
    contact = {name: form.get(name, "").strip() for name in ("consignor", "receiver") if form.get(name, "").strip()}
    if contact:
        parcel["contact"] = contact
    kind = form.get("logistics_type", "")
    return checked(ShipmentCreate, logistics_type=int(kind) if kind.isdigit() and len(kind) < 3 else 0,
                   parcels=[parcel], use_last_reship=form.get("use_last_reship") == "1")  # fmt: skip


@router.post("/orders/{order_id}/ship")
async def ship(order_id: PathId, request: Request, ctx: Context, session: AsSupport) -> Response:
    """Record the order's shipping at WeChat (support): ``POST /api/v1/admin/orders/{id}/shipments``'s
    use case; a change after the first upload needs the ``use_last_reship`` box ticked."""
    form = await form_of(request)
    try:
        body = _ship_body(form)
        wanted = shipping.ShipmentRequest(
            logistics_type=body.logistics_type, delivery_mode=body.delivery_mode,
            parcels=tuple(p.model_dump(exclude_none=True) for p in body.parcels),
            is_all_delivered=body.is_all_delivered, use_last_reship=body.use_last_reship,
        )  # fmt: skip
        operator = session.operator
        await shipping.request_shipment(ctx, order_id, wanted, requested_by=operator.email or operator.name,
                                        actor=operator)  # fmt: skip
    except (RequestError, UpstreamError) as error:
        return await _refused(request, ctx, session, order_id, error)
    return await _acted(request, ctx, session, order_id)


@router.get("/shipments")
async def shipments_page(request: Request, ctx: Context, session: AsViewer, state: str = "") -> HTMLResponse:
    """Paid orders to ship, overdue ones (unshipped or blocked for over a day) first."""
    states = [s.value for s in ShipmentState]
    chosen = state if state in states else ""
    items = await shipping.queue(ctx, ShipmentState(chosen) if chosen else None, limit=200)
    return render(request, "shipments.html", viewer_of(request, session.operator, session.csrf), items=items,
                  states=states, chosen=chosen)  # fmt: skip


# Owner pages: operators, audit trail, settings ---------------------------------------------------------


async def _operators(request: Request, ctx: Context, session: SignedIn, *, message: str = "", kind: str = "ok",
                     status: int = 200) -> HTMLResponse:  # fmt: skip
    accounts = await operators.list_operators(ctx)
    return render(request, "operators.html", viewer_of(request, session.operator, session.csrf), accounts=accounts,
                  roles=[r.label for r in Role], message=message, message_kind=kind, status=status)  # fmt: skip


async def _operators_after(request: Request, ctx: Context, session: SignedIn, error: RequestError | None) -> Response:
    if error is None and request.headers.get("hx-request") != "true":
        return RedirectResponse("/console/operators", status_code=303)
    if error is not None:
        return await _operators(request, ctx, session, message=error.message, kind="error", status=error.status)
    return await _operators(request, ctx, session, message=translator(viewer_of(request).lang)("Done."))


@router.get("/operators")
async def operators_page(request: Request, ctx: Context, session: AsOwner) -> HTMLResponse:
    return await _operators(request, ctx, session)


@router.post("/operators")
async def create_operator(request: Request, ctx: Context, session: AsOwner) -> Response:
    """A new operator account with a role (owner): ``POST /api/v1/admin/operators``'s use case."""
    form = await form_of(request)
    try:
        body = checked(OperatorCreate, email=form.get("email", "").strip(), role=form.get("role", ""),
                       password=form.get("password", ""))  # fmt: skip
        await operators.create_operator(ctx, body.email, body.password, Role.named(body.role), actor=session.operator)
    except RequestError as error:
        return await _operators_after(request, ctx, session, error)
    return await _operators_after(request, ctx, session, None)


@router.post("/operators/{operator_id}")
async def update_operator(operator_id: PathId, request: Request, ctx: Context, session: AsOwner) -> Response:
    """Change an account's role, or disable / enable it (owner): ``PATCH /api/v1/admin/operators/{id}``'s use case."""
    form = await form_of(request)
    try:
        body = checked(OperatorUpdate, role=form.get("role") or None,
                       disabled={"1": True, "0": False}.get(form.get("disabled", "")))  # fmt: skip
        await operators.update_operator(ctx, operator_id, actor=session.operator,
                                        role=Role.named(body.role) if body.role else None,
                                        disabled=body.disabled, password=None)  # fmt: skip
    except RequestError as error:
        return await _operators_after(request, ctx, session, error)
    return await _operators_after(request, ctx, session, None)


@router.get("/audit")
async def audit_page(
    request: Request, ctx: Context, session: AsOwner, before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    """What operators did outside orders, newest first, a page at a time (``before`` pages back)."""
    actions = await audit.list_actions(ctx, limit=PER_PAGE + 1, before_id=before)
    older = f"/console/audit?before={actions[PER_PAGE - 1]['id']}" if len(actions) > PER_PAGE else ""
    return render(request, "audit.html", viewer_of(request, session.operator, session.csrf),
                  actions=actions[:PER_PAGE], older=older, newest="/console/audit" if before else "",
                  detail_text=views.detail_text)  # fmt: skip


@router.get("/settings")
async def settings_page(request: Request, session: AsOwner) -> HTMLResponse:
    """The settings this process runs with (owner): secrets only as set / not set."""
    rows = request.app.state.settings_view
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    return render(request, "settings.html", viewer_of(request, session.operator, session.csrf), groups=groups)
