"""Helpers for the policy tests: principals are plain values (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from enclave.policy import PolicyRequest
from enclave.registry import (
    ApiKey,
    AssetId,
    KeyId,
    KeyLimits,
    Organisation,
    OrgId,
    OrgKind,
    OrgStatus,
    Principal,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_principal(
    tier: str = "public",
    purposes: tuple[str, ...] = ("general",),
    *,
    scope: tuple[str, ...] = (),
    key_id: str = "key_1",
    org_id: str = "org_1",
    kind: str | None = None,
    sector: str = "software",
) -> Principal:
    org = Organisation(
        id=OrgId(org_id),
        name=f"org {org_id}",
        kind=OrgKind(kind or (tier if tier in {k.value for k in OrgKind} else "public")),
        sector=sector,
        contact="",
        tier=tier,
        status=OrgStatus.APPROVED,
        created_at=NOW,
        updated_at=NOW,
        approved_at=NOW,
        approval_expires_at=NOW + timedelta(days=365),
    )
    key = ApiKey(
        id=KeyId(key_id),
        prefix=f"enc_{key_id}",
        org_id=org.id,
        name="",
        purposes=purposes,
        scope=tuple(AssetId(a) for a in scope),
        limits=KeyLimits(),
        created_at=NOW,
        created_by="operator:test",
        expires_at=NOW + timedelta(days=30),
    )
    return Principal(key=key, org=org)


def make_request(
    principal: Principal | None = None,
    *,
    model: str = "frontier",
    variant: str | None = None,
    purpose: str = "general",
    session: str = "session-1",
    action: str = "invoke",
    **context: Any,
) -> PolicyRequest:
    return PolicyRequest(
        principal=principal or make_principal(),
        action=action,
        model=model,
        variant=variant or f"{model}-full",
        purpose=purpose,
        session_id=session,
        context=context,
    )


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path
