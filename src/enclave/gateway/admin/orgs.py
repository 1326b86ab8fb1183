"""Organisations and their vetting: create, list, read, change status, apply, decide."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from enclave.gateway.admin.deps import Actor, Registry
from enclave.gateway.admin.requests import (
    ApplicationCreate,
    DecisionIn,
    OrgCreate,
    ReportOptIn,
    StatusChange,
)
from enclave.gateway.admin.views import (
    ApplicationView,
    DecisionResult,
    Listing,
    OrgCreated,
    OrgDetail,
    OrgView,
)
from enclave.registry import OrgStatus

router = APIRouter()

OrgRef = Annotated[
    str, Path(min_length=1, max_length=200, description="Organisation id or exact name.")
]
AppId = Annotated[str, Path(min_length=1, max_length=40)]

# What each action sets; the service checks the transition is allowed from the current status.
_ACTIONS: dict[str, OrgStatus] = {
    "suspend": OrgStatus.SUSPENDED,
    "reinstate": OrgStatus.APPROVED,
    "revoke": OrgStatus.REVOKED,
}


@router.post("/orgs", status_code=201, tags=["organisations"])
def create_org(body: OrgCreate, actor: Actor, registry: Registry) -> OrgCreated:
    """Register an organisation; it starts `applied`, with its first application."""
    org, app = registry.create_org(
        actor,
        name=body.name,
        kind=body.kind.value,
        tier=body.tier,
        sector=body.sector,
        contact=body.contact,
        evidence=body.evidence.to_domain(),
    )
    return OrgCreated(organisation=OrgView.of(org), application=ApplicationView.of(app))


@router.get("/orgs", tags=["organisations"])
def list_orgs(
    actor: Actor, registry: Registry, status: Annotated[OrgStatus | None, Query()] = None
) -> Listing[OrgView]:
    orgs = registry.list_orgs(actor, status=status.value if status else None)
    return Listing[OrgView](items=[OrgView.of(o) for o in orgs])


@router.get("/orgs/{ref}", tags=["organisations"])
def get_org(ref: OrgRef, actor: Actor, registry: Registry) -> OrgDetail:
    org, apps = registry.get_org(actor, ref)
    return OrgDetail(
        organisation=OrgView.of(org), applications=[ApplicationView.of(a) for a in apps]
    )


@router.post("/orgs/{ref}/status", tags=["organisations"])
def change_status(ref: OrgRef, body: StatusChange, actor: Actor, registry: Registry) -> OrgView:
    """Suspend, reinstate or revoke (admin only); the reason is recorded."""
    org = registry.set_status(actor, ref, _ACTIONS[body.action].value, reason=body.reason)
    return OrgView.of(org)


@router.put("/orgs/{ref}/report-opt-in", tags=["organisations"])
def set_report_opt_in(ref: OrgRef, body: ReportOptIn, actor: Actor, registry: Registry) -> OrgView:
    """Name the organisation in public transparency reports, or stop (admin only,
    recorded); otherwise it appears there only inside counts."""
    return OrgView.of(registry.set_report_opt_in(actor, ref, opt_in=body.opt_in))


@router.post("/orgs/{ref}/applications", status_code=201, tags=["vetting"])
def submit_application(
    ref: OrgRef, body: ApplicationCreate, actor: Actor, registry: Registry
) -> ApplicationView:
    """A renewal, or a change of tier, for an existing organisation."""
    app = registry.submit_application(
        actor, ref, tier=body.tier, evidence=body.evidence.to_domain()
    )
    return ApplicationView.of(app)


@router.get("/applications", tags=["vetting"])
def list_applications(
    actor: Actor,
    registry: Registry,
    status: Annotated[Literal["pending", "approved", "rejected", "all"], Query()] = "pending",
) -> Listing[ApplicationView]:
    apps = registry.list_applications(actor, status=None if status == "all" else status)
    return Listing[ApplicationView](items=[ApplicationView.of(a) for a in apps])


@router.post("/applications/{app_id}/decisions", tags=["vetting"])
def decide(app_id: AppId, body: DecisionIn, actor: Actor, registry: Registry) -> DecisionResult:
    """One operator's decision. Partner and maintainer approvals need two different
    operators (four-eyes); a second decision by the same operator is refused."""
    app, org = registry.decide(actor, app_id, decision=body.decision, reason=body.reason)
    return DecisionResult(application=ApplicationView.of(app), organisation=OrgView.of(org))


__all__ = ["router"]
