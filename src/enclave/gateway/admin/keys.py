"""API keys: issue (the secret is in this one response, never again), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from enclave.gateway.admin.deps import Actor, Registry
from enclave.gateway.admin.requests import KeyIssue, KeyRevoke
from enclave.gateway.admin.views import IssuedKeyView, KeyView, Listing
from enclave.registry import parse_duration

router = APIRouter(tags=["keys"])


@router.post("/keys", status_code=201)
def issue_key(
    body: KeyIssue, actor: Actor, registry: Registry, response: Response
) -> IssuedKeyView:
    """Issue a key bound to an approved organisation, purposes its tier allows, an
    optional asset scope, an expiry and optional limits."""
    expires_in = parse_duration(body.expires) if body.expires is not None else None
    issued = registry.issue_key(
        actor,
        body.org,
        purposes=body.purposes,
        name=body.name,
        expires_in=expires_in,
        scope=body.scope,
        limits=body.limits.to_domain(),
    )
    # The secret must not land in any cache (RFC 9111 §5.2.2.5; RFC 6749 §5.1 does the
    # same for token responses).
    response.headers["Cache-Control"] = "no-store"
    return IssuedKeyView(key=KeyView.of(issued.key, registry.now()), secret=issued.secret)


@router.get("/keys")
def list_keys(
    actor: Actor,
    registry: Registry,
    org: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> Listing[KeyView]:
    keys = registry.list_keys(actor, org_ref=org)
    now = registry.now()
    return Listing[KeyView](items=[KeyView.of(k, now) for k in keys])


@router.post("/keys/{key_id}/revoke")
def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=40, description="Key id or prefix.")],
    body: KeyRevoke,
    actor: Actor,
    registry: Registry,
) -> KeyView:
    """Revoke a key; the next request made with it is refused."""
    key = registry.revoke_key(actor, key_id, reason=body.reason)
    return KeyView.of(key, registry.now())


__all__ = ["router"]
