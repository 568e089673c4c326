"""The audit trail of what operators do outside an order (accounts, products, reconciliation runs).
An action on an order is an event of that order instead, written in the transaction of the change
(see :meth:`silverpay.store.ledger.LedgerTx.event`), so it shows in the order's timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from silverpay.clock import utc
from silverpay.domain.operators import Operator
from silverpay.service.context import ServiceContext
from silverpay.store.models_console import OperatorAction


def record(db: AsyncSession, actor: Operator, action: str, target: str, detail: dict[str, Any], *, now: float) -> None:
    """Add the action to the caller's transaction: it is kept only if the change is."""
    who = actor.audit()
    db.add(OperatorAction(operator_id=who["operator_id"], operator=who["operator"], ip=actor.ip[:64], action=action,
                          target=target[:64], detail={**detail, "actor_role": who["role"]},
                          created_at=utc(now)))  # fmt: skip


def action_view(action: OperatorAction) -> dict[str, Any]:
    return {
        "id": action.id,
        "at": action.created_at.isoformat(),
        "operator_id": action.operator_id,
        "operator": action.operator,
        "ip": action.ip,
        "action": action.action,
        "target": action.target,
        "detail": action.detail,
    }


async def list_actions(ctx: ServiceContext, *, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """The latest operator actions, newest first (``before_id`` pages back)."""
    query = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(OperatorAction.id < before_id)
    async with ctx.sessions() as db:
        return [action_view(a) for a in (await db.execute(query)).scalars()]
