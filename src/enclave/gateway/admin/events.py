"""The append-only record of every change, paged by sequence number."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from enclave.gateway.admin.deps import Actor, Registry
from enclave.gateway.admin.views import EventPage, EventView

router = APIRouter(tags=["events"])


@router.get("/events")
def list_events(
    actor: Actor,
    registry: Registry,
    after: Annotated[int, Query(ge=0, description="Return events with seq greater than this.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[str | None, Query(min_length=1, max_length=80, examples=["key.issued"])] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
) -> EventPage:
    """Events in sequence order. Page with `after=<next_after>` until `items` is empty."""
    stored = registry.list_events(actor, after=after, limit=limit, kind=kind, subject=subject)
    items = [EventView.of(e) for e in stored]
    return EventPage(items=items, next_after=items[-1].seq if items else after)


__all__ = ["router"]
