"""Webhook endpoints (owner), the events list (viewer) and resend (support), and the event feed a
merchant backend's developer tools read with an API key (``silverpay listen``)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from silverpay.api.deps import Context, Owner, Support, Viewer
from silverpay.api.merchant_auth import ApiCaller
from silverpay.api.openapi import error_responses
from silverpay.api.schemas import (
    MAX_ID,
    EventType,
    PathId,
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
)
from silverpay.service import events, webhooks

router = APIRouter(tags=["webhooks"], responses=error_responses(401))
ENDPOINTS = "/api/v1/admin/webhook-endpoints"
POLL_INTERVAL_S = 0.5


@router.post(ENDPOINTS, status_code=201, response_model=WebhookEndpointOut, responses=error_responses(400, 403))
async def create_endpoint(body: WebhookEndpointCreate, ctx: Context, operator: Owner) -> dict[str, Any]:
    """Register a URL for events; the answer carries its signing secret `whsec_…`, shown only now."""
    return await webhooks.create_endpoint(ctx, body.url, body.events, body.description, actor=operator)


@router.get(ENDPOINTS, response_model=list[WebhookEndpointOut], responses=error_responses(403))
async def list_endpoints(ctx: Context, operator: Owner) -> list[dict[str, Any]]:
    return await webhooks.list_endpoints(ctx)


@router.patch(ENDPOINTS + "/{endpoint_id}", response_model=WebhookEndpointOut, responses=error_responses(400, 403, 404))
async def update_endpoint(
    endpoint_id: PathId, body: WebhookEndpointUpdate, ctx: Context, operator: Owner
) -> dict[str, Any]:
    """Change the URL or events, disable or enable, or rotate the secret (the old one keeps signing for 24 h)."""
    return await webhooks.update_endpoint(ctx, endpoint_id, url=body.url, events=body.events,
                                          description=body.description, enabled=body.enabled,
                                          rotate_secret=body.rotate_secret, actor=operator)  # fmt: skip


@router.delete(ENDPOINTS + "/{endpoint_id}", status_code=204, responses=error_responses(403, 404))
async def delete_endpoint(endpoint_id: PathId, ctx: Context, operator: Owner) -> Response:
    await webhooks.delete_endpoint(ctx, endpoint_id, actor=operator)
    return Response(status_code=204)


@router.get("/api/v1/events", responses=error_responses(403))
async def list_events(
    ctx: Context, operator: Viewer, type: EventType | None = None, since: datetime | None = None,
    delivery_failed: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:  # fmt: skip
    """Events of the last 30 days, newest first, with their deliveries (`delivery_failed=true`:
    only those with a FAILED delivery)."""
    return await events.list_events(ctx, event_type=type, since=since, delivery_failed=delivery_failed, limit=limit)


@router.get("/api/v1/events/feed")
async def feed(
    ctx: Context, key: ApiCaller, after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    types: Annotated[list[EventType] | None, Query()] = None,
    wait_s: Annotated[float, Query(ge=0, le=30)] = 25.0,
) -> dict[str, Any]:  # fmt: skip
    """Long-poll for events after the cursor `after` (none: from now), waiting up to `wait_s` for
    the first. Answers `{"events": [...], "next": cursor}`. For developer tools (`silverpay listen`)."""
    deadline = time.monotonic() + wait_s
    wanted = [t for t in types or [] if t != "*"]
    while True:
        await events.publish(ctx)  # a development service may run no worker
        found, cursor = await events.events_after(ctx, after, types=wanted)
        if found or after is None or time.monotonic() >= deadline:
            return {"events": found, "next": cursor}
        await asyncio.sleep(POLL_INTERVAL_S)


@router.get("/api/v1/events/{event_id}", responses=error_responses(403, 404))
async def get_event(event_id: str, ctx: Context, operator: Viewer) -> dict[str, Any]:
    """One event with every delivery and its attempts (status, latency, the first 1 KB of each answer)."""
    return await events.get_event(ctx, event_id)


@router.post("/api/v1/events/{event_id}/resend", responses=error_responses(403, 404))
async def resend(
    event_id: str, ctx: Context, operator: Support, endpoint: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> dict[str, Any]:
    """Deliver the event again: to `endpoint`, or to every enabled endpoint subscribed to it."""
    return await events.resend(ctx, event_id, endpoint, actor=operator)
