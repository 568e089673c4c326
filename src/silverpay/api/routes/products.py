from __future__ import annotations

from fastapi import APIRouter

from silverpay.api.deps import Context
from silverpay.api.schemas import ProductOut
from silverpay.service import catalogue

router = APIRouter(prefix="/api/v1/products", tags=["mini-program"])


@router.get("", response_model=list[ProductOut])
async def list_products(ctx: Context) -> list[dict[str, object]]:
    return await catalogue.list_products(ctx)
