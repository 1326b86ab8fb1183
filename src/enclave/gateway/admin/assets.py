"""Assets: claim, challenge, verify, attest (four-eyes), release a hold, revoke; read.

Admins and reviewers manage assets, auditors read (the service checks roles). A failed
verification answers 409 ``challenge_failed`` whose detail starts with the outcome
(``missing``, ``wrong_token``, ``expired``, ``redirect_refused``, ``too_large``,
``refused_address``, ``unreachable``, ``not_covered``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from enclave.assets import Asset, AssetKind, AssetService, Method, Publish
from enclave.errors import ConfigError
from enclave.gateway.admin.deps import Actor
from enclave.gateway.admin.requests import Body, Name, Reason
from enclave.gateway.admin.views import Listing, View

router = APIRouter(tags=["assets"])


def get_assets(request: Request) -> AssetService:
    service = getattr(request.app.state, "assets", None)
    if not isinstance(service, AssetService):
        raise ConfigError("the assets service is not configured")
    return service


Assets = Annotated[AssetService, Depends(get_assets)]
AssetRef = Annotated[str, Path(min_length=1, max_length=40, description="Asset id (ast_…).")]


class AssetCreate(Body):
    org: Name
    kind: AssetKind
    value: Annotated[str, Field(min_length=1, max_length=500)]
    reverify_days: Annotated[int | None, Field(ge=1, le=3650)] = None


class ChallengeCreate(Body):
    method: Method


class Verify(Body):
    pass


class WithReason(Body):
    reason: Reason


class VerificationView(View):
    method: str
    token: str
    at: datetime
    by: str
    evidence: str


class AssetView(View):
    id: str
    org_id: str
    kind: str
    value: str
    state: str  # pending | verified | lapsed | held | revoked
    created_at: datetime
    created_by: str
    verification: VerificationView | None
    expires_at: datetime | None
    reverify_at: datetime | None
    challenge_method: str | None
    challenge_expires_at: datetime | None
    attested_by: str | None
    attestation_reason: str | None
    hold_reason: str | None
    revoked_at: datetime | None
    revoke_reason: str | None

    @classmethod
    def of(cls, asset: Asset, now: datetime) -> AssetView:
        ver, ch, att = asset.verification, asset.challenge, asset.attestation
        return cls(
            id=asset.id,
            org_id=asset.org_id,
            kind=asset.kind.value,
            value=asset.value,
            state=asset.state(now),
            created_at=asset.created_at,
            created_by=asset.created_by,
            verification=VerificationView(
                method=ver.method.value,
                token=ver.token,
                at=ver.at,
                by=ver.by,
                evidence=ver.evidence,
            )
            if ver
            else None,
            expires_at=asset.expires_at,
            reverify_at=asset.reverify_at(),
            challenge_method=ch.method.value if ch else None,
            challenge_expires_at=ch.expires_at if ch else None,
            attested_by=att.by if att else None,
            attestation_reason=att.reason if att else None,
            hold_reason=asset.hold_reason,
            revoked_at=asset.revoked_at,
            revoke_reason=asset.revoke_reason,
        )


class PublishView(View):
    """Exactly what the owner must publish, and where (docs/asset-owners.md)."""

    method: str
    where: str
    content: str
    instructions: str

    @classmethod
    def of(cls, publish: Publish) -> PublishView:
        return cls(
            method=publish.method.value,
            where=publish.where,
            content=publish.content,
            instructions=publish.instructions,
        )


class AssetDetail(View):
    asset: AssetView
    publish: PublishView | None


@router.post("/assets", status_code=201)
def add_asset(body: AssetCreate, actor: Actor, assets: Assets) -> AssetView:
    """Claim an asset for an organisation; pending until verified."""
    asset = assets.add(
        actor, body.org, kind=body.kind.value, value=body.value, reverify_days=body.reverify_days
    )
    return AssetView.of(asset, assets.now())


@router.get("/assets")
def list_assets(
    actor: Actor,
    assets: Assets,
    org: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
) -> Listing[AssetView]:
    found = assets.list_assets(actor, org_ref=org, status=status)
    now = assets.now()
    return Listing[AssetView](items=[AssetView.of(a, now) for a in found])


@router.get("/assets/{asset_id}")
def show_asset(asset_id: AssetRef, actor: Actor, assets: Assets) -> AssetDetail:
    """The asset, its verification record and, while one is pending, what to publish."""
    asset = assets.show(actor, asset_id)
    publish = PublishView.of(assets.publication(asset)) if asset.challenge else None
    return AssetDetail(asset=AssetView.of(asset, assets.now()), publish=publish)


@router.post("/assets/{asset_id}/challenges", status_code=201)
def issue_challenge(
    asset_id: AssetRef, body: ChallengeCreate, actor: Actor, assets: Assets
) -> AssetDetail:
    """Issue a fresh token; the answer says exactly what the owner must publish."""
    asset, publish = assets.challenge(actor, asset_id, method=body.method.value)
    return AssetDetail(asset=AssetView.of(asset, assets.now()), publish=PublishView.of(publish))


@router.post("/assets/{asset_id}/verify")
def verify_asset(asset_id: AssetRef, body: Verify, actor: Actor, assets: Assets) -> AssetView:
    """Check the pending challenge now (hosts: the covering verified domains)."""
    return AssetView.of(assets.verify(actor, asset_id), assets.now())


@router.post("/assets/{asset_id}/attest")
def attest_asset(asset_id: AssetRef, body: WithReason, actor: Actor, assets: Assets) -> AssetView:
    """Vouch for an asset that cannot answer a challenge; another operator approves."""
    return AssetView.of(assets.attest(actor, asset_id, reason=body.reason), assets.now())


@router.post("/assets/{asset_id}/approve")
def approve_asset(asset_id: AssetRef, body: WithReason, actor: Actor, assets: Assets) -> AssetView:
    """Approve another operator's attestation (four-eyes)."""
    return AssetView.of(assets.approve(actor, asset_id, reason=body.reason), assets.now())


@router.post("/assets/{asset_id}/release")
def release_asset(asset_id: AssetRef, body: WithReason, actor: Actor, assets: Assets) -> AssetView:
    """Decide a held overlap in this claim's favour."""
    return AssetView.of(assets.release(actor, asset_id, reason=body.reason), assets.now())


@router.post("/assets/{asset_id}/revoke")
def revoke_asset(asset_id: AssetRef, body: WithReason, actor: Actor, assets: Assets) -> AssetView:
    """End a claim; keys scoped to it lose it on their next request."""
    return AssetView.of(assets.revoke(actor, asset_id, reason=body.reason), assets.now())


__all__ = ["router"]
