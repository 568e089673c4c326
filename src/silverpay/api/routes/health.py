"""What monitoring asks: ``/healthz`` (the process answers), ``/readyz`` (it can serve: the database
answers and its schema is at the migrations' head) and ``/metrics`` (Prometheus text, operators only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from silverpay import metrics
from silverpay.api.deps import Context, Viewer
from silverpay.api.openapi import error_responses
from silverpay.service import observability

router = APIRouter(tags=["operator"])

_READY = {"type": "object", "required": ["ready", "database", "migrations"], "properties": {
    "ready": {"type": "boolean"}, "database": {"type": "string"}, "migrations": {"type": "string"}}}  # fmt: skip


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and answering (no dependency is checked: see `/readyz`)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    responses={
        200: {"description": "Ready", "content": {"application/json": {"schema": _READY}}},
        503: {"description": "Not ready: the database is unreachable or its schema is not at head",
              "content": {"application/json": {"schema": _READY}}},
    },
)  # fmt: skip
async def readyz(ctx: Context) -> JSONResponse:
    """Ready to serve: the database answers and its migrations are at head (else 503, saying which)."""
    state: dict[str, Any] = await observability.readiness(ctx)
    return JSONResponse(state, status_code=200 if state["ready"] else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition format 0.0.4",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}, **error_responses(401)},
)  # fmt: skip
async def prometheus_metrics(ctx: Context, _operator: Viewer) -> Response:
    """Prometheus metrics: notifications, settle latency, WeChat calls (this process) and orders by
    status, sweeper backlog, refunds processing, open discrepancies (the database). Operator token."""
    snapshot = await observability.snapshot(ctx)
    return Response(metrics.render(snapshot), media_type=metrics.CONTENT_TYPE)
