from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from silverpay.api.deps import Admin, Context, Viewer
from silverpay.api.openapi import error_responses
from silverpay.api.schemas import PathId
from silverpay.service import reconcile

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
