"""Coordinated disclosure for operators: findings, cases, maintainers, deadlines,
publication (docs/disclosure.md). Role checks are the service's; embargoed details are
served only by ``GET /cases/{id}/details`` (admin, recorded)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from enclave.disclosure import (
    CaseState,
    DisclosureInputError,
    DisclosureService,
    FindingInput,
    VendorStatus,
)
from enclave.disclosure import views as shapes
from enclave.errors import ConfigError
from enclave.gateway.admin.deps import Actor

router = APIRouter(tags=["disclosure"])
CaseRef = Annotated[str, Path(min_length=1, max_length=40)]
Reason = Annotated[str, Field(min_length=1, max_length=2000, description="Why; recorded.")]


def get_disclosure(request: Request) -> DisclosureService:
    provider: Callable[[], DisclosureService] | None = getattr(
        request.app.state, "disclosure", None
    )
    if provider is None:
        raise ConfigError("disclosure is not configured in this server")
    return provider()


Service = Annotated[DisclosureService, Depends(get_disclosure)]
Json = dict[str, Any]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FindingIn(Body):
    title: str = Field(min_length=1, max_length=300)
    purl: str = Field(min_length=5, max_length=500, examples=["pkg:pypi/examplelib"])
    versions: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=500
    )
    location: str = Field(min_length=1, max_length=2000)
    cwe: str = Field(min_length=1, max_length=20, examples=["CWE-787"])
    cvss_vector: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=100_000)
    reporting_org: str = Field(min_length=1, max_length=200)
    session_id: str | None = Field(default=None, max_length=200)
    poc_base64: str | None = Field(
        default=None, max_length=90_000_000, description="Proof of concept, base64."
    )
    poc_name: str | None = Field(default=None, max_length=200)


class MaintainerIn(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200)


class LinkIn(Body):
    participant: str = Field(min_length=1, max_length=40)


class StatusIn(Body):
    participant: str = Field(min_length=1, max_length=40)
    status: VendorStatus
    finding: str | None = Field(default=None, max_length=40)
    fixed_version: str | None = Field(default=None, max_length=200)


class DeadlineIn(Body):
    reason: Reason
    grace: bool = False
    until: datetime | None = None
    exploited: bool = False


class CloseIn(Body):
    state: Literal["duplicate", "invalid", "withdrawn"]
    reason: Reason


class PublishIn(Body):
    early_reason: str | None = Field(default=None, min_length=1, max_length=2000)


def _poc(body: FindingIn) -> bytes | None:
    if body.poc_base64 is None:
        return None
    try:
        return base64.b64decode(body.poc_base64, validate=True)
    except (binascii.Error, ValueError):
        raise DisclosureInputError("poc_base64 is not valid base64") from None


@router.post("/findings", status_code=201)
def submit_finding(body: FindingIn, actor: Actor, service: Service) -> Json:
    """Submit a finding; a duplicate (same package, CWE, location) joins the first one's case."""
    data = FindingInput(
        title=body.title,
        purl=body.purl,
        versions=body.versions,
        location=body.location,
        cwe=body.cwe,
        cvss_vector=body.cvss_vector,
        description=body.description,
        reporting_org=body.reporting_org,
        session_id=body.session_id,
        poc=_poc(body),
        poc_name=body.poc_name,
    )
    return shapes.submitted(service.submit(actor, data))


@router.get("/findings")
def list_findings(
    actor: Actor,
    service: Service,
    case: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
) -> Json:
    return {"items": [shapes.finding(f) for f in service.list_findings(actor, case_id=case)]}


@router.get("/findings/{finding_id}")
def show_finding(finding_id: CaseRef, actor: Actor, service: Service) -> Json:
    return shapes.finding(service.get_finding(actor, finding_id))


@router.get("/cases")
def list_cases(
    actor: Actor, service: Service, state: Annotated[CaseState | None, Query()] = None
) -> Json:
    return {"items": [shapes.case(c) for c in service.list_cases(actor, state=state)]}


@router.get("/cases/{case_id}")
def show_case(case_id: CaseRef, actor: Actor, service: Service) -> Json:
    """The case without embargoed text: participants, statuses, deadline."""
    return shapes.overview(service.overview(actor, case_id))


@router.get("/cases/{case_id}/details")
def case_details(case_id: CaseRef, actor: Actor, service: Service, response: Response) -> Json:
    """Descriptions and proofs of concept (admin only); the read is recorded."""
    response.headers["Cache-Control"] = "no-store"
    return shapes.details(service.details(actor, case_id))


@router.get("/cases/{case_id}/timeline")
def case_timeline(case_id: CaseRef, actor: Actor, service: Service) -> Json:
    return {"items": [shapes.event(e) for e in service.timeline(actor, case_id)]}


@router.get("/cases/{case_id}/advisory")
def advisory(
    case_id: CaseRef,
    actor: Actor,
    service: Service,
    format: Annotated[Literal["osv", "csaf"], Query()] = "osv",
) -> Json:
    """The published OSV record or CSAF document of a disclosed case."""
    return service.export(actor, case_id, format)


@router.post("/cases/{case_id}/maintainers", status_code=201)
def add_maintainer(case_id: CaseRef, body: MaintainerIn, actor: Actor, service: Service) -> Json:
    added = service.add_vendor(
        actor,
        case_id,
        name=body.name,
        email=body.email,
        webhook_url=body.webhook_url,
        webhook_secret=body.webhook_secret,
    )
    return shapes.participant(added)


@router.post("/cases/{case_id}/notify")
async def notify(case_id: CaseRef, actor: Actor, service: Service, response: Response) -> Json:
    """E-mail and/or webhook every maintainer a private link; starts the deadline."""
    response.headers["Cache-Control"] = "no-store"
    links = await service.notify(actor, case_id)
    return {"items": [shapes.link(k) for k in links]}


@router.post("/cases/{case_id}/links", status_code=201)
def issue_link(
    case_id: CaseRef, body: LinkIn, actor: Actor, service: Service, response: Response
) -> Json:
    """A fresh link for one participant, to pass on (shown once)."""
    response.headers["Cache-Control"] = "no-store"
    return shapes.link(service.issue_link(actor, case_id, body.participant))


@router.post("/cases/{case_id}/status")
def set_status(case_id: CaseRef, body: StatusIn, actor: Actor, service: Service) -> Json:
    updated = service.set_status(
        actor,
        case_id,
        body.participant,
        body.status,
        finding_id=body.finding,
        fixed_version=body.fixed_version,
    )
    return shapes.case(updated)


@router.post("/cases/{case_id}/deadline")
def change_deadline(case_id: CaseRef, body: DeadlineIn, actor: Actor, service: Service) -> Json:
    """Grace period, explicit date, or the in-the-wild rule; the reason is recorded."""
    updated = service.extend(
        actor,
        case_id,
        reason=body.reason,
        grace=body.grace,
        until=body.until,
        exploited=body.exploited,
    )
    return shapes.case(updated)


@router.post("/cases/{case_id}/close")
def close_case(case_id: CaseRef, body: CloseIn, actor: Actor, service: Service) -> Json:
    return shapes.case(service.close(actor, case_id, CaseState(body.state), reason=body.reason))


@router.post("/cases/{case_id}/publish")
def publish(case_id: CaseRef, body: PublishIn, actor: Actor, service: Service) -> Json:
    """Disclose at the deadline (or early, with a reason, once everything is fixed)."""
    return shapes.case(service.publish(actor, case_id, early_reason=body.early_reason))


__all__ = ["router"]
