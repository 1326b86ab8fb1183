"""Request bodies of the admin API.

Every model forbids unknown fields (a misspelt field is an error, not a silent default) and
bounds every string and list, so that a request's size is bounded before a service sees it.
The limits match the columns and the service's own checks (names 200, free text 10,000).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from enclave.registry import Evidence, KeyLimits, OrgKind, Role

Name = Annotated[str, Field(min_length=1, max_length=200)]
ShortText = Annotated[str, Field(max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=10_000, description="Why; recorded.")]
TierName = Annotated[str, Field(min_length=1, max_length=40, examples=["partner"])]
Purpose = Annotated[str, Field(min_length=1, max_length=40, examples=["vuln-detection"])]
Link = Annotated[str, Field(min_length=1, max_length=2000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttachmentIn(Body):
    name: Name
    sha256: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$", examples=["sha256:" + "0" * 64])]


class EvidenceIn(Body):
    text: Annotated[str, Field(max_length=10_000)] = ""
    links: Annotated[list[Link], Field(max_length=50)] = []
    attachments: Annotated[list[AttachmentIn], Field(max_length=50)] = []

    def to_domain(self) -> Evidence:
        return Evidence(
            text=self.text,
            links=tuple(self.links),
            attachments=tuple((a.name, a.sha256) for a in self.attachments),
        )


class OrgCreate(Body):
    name: Name
    kind: OrgKind
    tier: TierName
    sector: ShortText = ""
    contact: ShortText = ""
    evidence: EvidenceIn = EvidenceIn()


class StatusChange(Body):
    """suspend: approved -> suspended; reinstate: suspended -> approved; revoke: final."""

    action: Literal["suspend", "reinstate", "revoke"]
    reason: Reason


class ReportOptIn(Body):
    """Whether the organisation is named in public transparency reports."""

    opt_in: StrictBool


class ApplicationCreate(Body):
    tier: TierName
    evidence: EvidenceIn = EvidenceIn()


class DecisionIn(Body):
    decision: Literal["approve", "reject"]
    reason: Reason


class LimitsIn(Body):
    requests_per_minute: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    tokens_per_minute: Annotated[StrictInt, Field(ge=1, le=1_000_000_000)] | None = None

    def to_domain(self) -> KeyLimits:
        return KeyLimits(self.requests_per_minute, self.tokens_per_minute)


class KeyIssue(Body):
    org: Annotated[Name, Field(description="Organisation id or name.")]
    purposes: Annotated[list[Purpose], Field(min_length=1, max_length=16)]
    name: ShortText = ""
    expires: Annotated[
        str | None,
        Field(
            max_length=16,
            examples=["30d"],
            description="Lifetime: a number and d, h or m. Default and cap: the tier's.",
        ),
    ] = None
    scope: Annotated[list[Name], Field(max_length=100, description="Asset ids.")] = []
    limits: LimitsIn = LimitsIn()


class KeyRevoke(Body):
    reason: Reason


class OperatorCreate(Body):
    name: Name
    roles: Annotated[list[Role], Field(min_length=1, max_length=3)]


__all__ = [
    "ApplicationCreate",
    "AttachmentIn",
    "DecisionIn",
    "EvidenceIn",
    "KeyIssue",
    "KeyRevoke",
    "LimitsIn",
    "OperatorCreate",
    "OrgCreate",
    "StatusChange",
]
