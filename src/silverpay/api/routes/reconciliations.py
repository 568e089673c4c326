from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from silverpay.api.deps import Admin, Context, Finance, Viewer
from silverpay.api.openapi import error_responses
from silverpay.api.schemas import PathId
from silverpay.api.schemas_console import ReconciliationRerun
from silverpay.errors import InvalidRequest
from silverpay.service import admin, reconcile

router = APIRouter(
    prefix="/api/v1/admin/reconciliations", tags=["operator"], dependencies=[Admin],
    responses=error_responses(401, 403),
)  # fmt: skip


@router.get("")
async def list_reconciliations(ctx: Context, operator: Viewer, limit: int = 50) -> list[dict[str, Any]]:
    """Daily bill reconciliations, newest first."""
    return await reconcile.list_runs(ctx, limit=min(max(limit, 1), 500))


@router.get("/{run_id}", responses=error_responses(404))
async def get_reconciliation(run_id: PathId, ctx: Context, operator: Viewer) -> dict[str, Any]:
    """One reconciliation with every discrepancy it found."""
    return await reconcile.get_run(ctx, run_id)


@router.post("", status_code=201, responses=error_responses(400, 502, 503))
async def rerun_reconciliation(body: ReconciliationRerun, ctx: Context, operator: Finance) -> dict[str, Any]:
    """Reconcile a past Beijing day (again) now, in the request (finance): the new run with every
    discrepancy it found. WeChat's bill is downloaded afresh."""
    try:
        day = dt.date.fromisoformat(body.date)
    except ValueError:
        raise InvalidRequest("date must be a real YYYY-MM-DD day") from None
    return await admin.rerun_reconciliation(ctx, day, actor=operator)
