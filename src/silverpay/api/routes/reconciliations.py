from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from silverpay.api.deps import Admin, Context
from silverpay.api.schemas import ErrorOut
from silverpay.service import reconcile

router = APIRouter(
    prefix="/api/v1/admin/reconciliations", tags=["operator"], dependencies=[Admin],
    responses={401: {"model": ErrorOut}},
)  # fmt: skip


@router.get("")
async def list_reconciliations(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    """Daily bill reconciliations, newest first."""
    return await reconcile.list_runs(ctx, limit=min(max(limit, 1), 500))


@router.get("/{run_id}")
async def get_reconciliation(run_id: int, ctx: Context) -> dict[str, Any]:
    """One reconciliation with every discrepancy it found."""
    return await reconcile.get_run(ctx, run_id)
