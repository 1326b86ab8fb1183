"""Response bodies of the admin API, built from domain values.

Threat-model note: the domain values carry no key or token digests (those stay inside the
store), and each view lists its fields explicitly, so a field added to a domain value
reaches the API only when someone adds it here. Secrets appear in exactly two views,
``IssuedKeyView`` and ``IssuedOperatorView``, returned once by the call that created them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from enclave.events import StoredEvent
from enclave.registry import (
    ApiKey,
    Application,
    ApplicationStatus,
    Approval,
    Evidence,
    Operator,
    Organisation,
    OrgKind,
    OrgStatus,
)

T = TypeVar("T")


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listing(View, Generic[T]):
    items: list[T]


class Problem(View):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    hint: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


class OrgView(View):
    id: str
    name: str
    kind: OrgKind
    sector: str
    contact: str
    tier: str
    status: OrgStatus
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    approval_expires_at: datetime | None
    report_opt_in: bool  # named in public transparency reports (docs/transparency.md)

    @classmethod
    def of(cls, org: Organisation) -> OrgView:
        return cls(
            id=org.id,
            name=org.name,
            kind=org.kind,
            sector=org.sector,
            contact=org.contact,
            tier=org.tier,
            status=org.status,
            created_at=org.created_at,
            updated_at=org.updated_at,
            approved_at=org.approved_at,
            approval_expires_at=org.approval_expires_at,
            report_opt_in=org.report_opt_in,
        )


class AttachmentView(View):
    name: str
    sha256: str


class EvidenceView(View):
    text: str
    links: list[str]
    attachments: list[AttachmentView]

    @classmethod
    def of(cls, evidence: Evidence) -> EvidenceView:
        return cls(
            text=evidence.text,
            links=list(evidence.links),
            attachments=[AttachmentView(name=n, sha256=d) for n, d in evidence.attachments],
        )


class DecisionView(View):
    operator_id: str
    decision: str
    reason: str
    at: datetime

    @classmethod
    def of(cls, approval: Approval) -> DecisionView:
        return cls(
            operator_id=approval.operator_id,
            decision=approval.decision,
            reason=approval.reason,
            at=approval.at,
        )


class ApplicationView(View):
    id: str
    org_id: str
    tier: str
    status: ApplicationStatus
    evidence: EvidenceView
    submitted_by: str
    submitted_at: datetime
    decisions: list[DecisionView]
    decided_at: datetime | None

    @classmethod
    def of(cls, app: Application) -> ApplicationView:
        return cls(
            id=app.id,
            org_id=app.org_id,
            tier=app.tier,
            status=app.status,
            evidence=EvidenceView.of(app.evidence),
            submitted_by=app.submitted_by,
            submitted_at=app.submitted_at,
            decisions=[DecisionView.of(d) for d in app.decisions],
            decided_at=app.decided_at,
        )


class OrgCreated(View):
    organisation: OrgView
    application: ApplicationView


class OrgDetail(View):
    organisation: OrgView
    applications: list[ApplicationView]


class DecisionResult(View):
    application: ApplicationView
    organisation: OrgView


class LimitsView(View):
    requests_per_minute: int | None
    tokens_per_minute: int | None


class KeyView(View):
    id: str
    prefix: str
    org_id: str
    name: str
    purposes: list[str]
    scope: list[str]
    limits: LimitsView
    state: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @classmethod
    def of(cls, key: ApiKey, now: datetime) -> KeyView:
        return cls(
            id=key.id,
            prefix=key.prefix,
            org_id=key.org_id,
            name=key.name,
            purposes=list(key.purposes),
            scope=list(key.scope),
            limits=LimitsView(
                requests_per_minute=key.limits.requests_per_minute,
                tokens_per_minute=key.limits.tokens_per_minute,
            ),
            state=key.state(now),
            created_at=key.created_at,
            created_by=key.created_by,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            revoked_by=key.revoked_by,
            revoke_reason=key.revoke_reason,
        )


class IssuedKeyView(View):
    key: KeyView
    secret: str


class OperatorView(View):
    id: str
    name: str
    roles: list[str]
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, op: Operator) -> OperatorView:
        return cls(
            id=op.id,
            name=op.name,
            roles=sorted(r.value for r in op.roles),
            created_at=op.created_at,
            disabled_at=op.disabled_at,
        )


class IssuedOperatorView(View):
    operator: OperatorView
    token: str


class EventView(View):
    seq: int
    kind: str
    actor: str
    subject: str
    at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, stored: StoredEvent) -> EventView:
        event = stored.event
        return cls(
            seq=stored.seq,
            kind=event.kind,
            actor=event.actor,
            subject=event.subject,
            at=event.at,
            data=dict(event.data),
        )


class EventPage(Listing[EventView]):
    next_after: int


__all__ = [
    "ApplicationView",
    "DecisionResult",
    "EventPage",
    "EventView",
    "IssuedKeyView",
    "IssuedOperatorView",
    "KeyView",
    "Listing",
    "OperatorView",
    "OrgCreated",
    "OrgDetail",
    "OrgView",
    "Problem",
]
