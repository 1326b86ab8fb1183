"""Disclosure domain: findings, cases on CERT/CC VINCE's model, participants, per-maintainer
status, maintainer links. Values are frozen dataclasses; storage is behind
:class:`DisclosureStore`, implemented in ``enclave.store.disclosure_repo``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, NewType, Protocol

from enclave.errors import Conflict, EnclaveError, InputError, NotFound, PermissionDenied
from enclave.events import EventReader, EventWriter

FindingId = NewType("FindingId", str)
CaseId = NewType("CaseId", str)
ParticipantId = NewType("ParticipantId", str)
LinkId = NewType("LinkId", str)


class CaseState(StrEnum):
    TRIAGE = "triage"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    FIX_AVAILABLE = "fix-available"
    DISCLOSED = "disclosed"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    WITHDRAWN = "withdrawn"


# The forward path; a case may skip ahead (a fix can ship before an acknowledgement) but
# never go back. The three side exits close a case that is not yet disclosed.
FORWARD: tuple[CaseState, ...] = (
    CaseState.TRIAGE,
    CaseState.NOTIFIED,
    CaseState.ACKNOWLEDGED,
    CaseState.FIX_AVAILABLE,
    CaseState.DISCLOSED,
)
CLOSED = frozenset(
    {CaseState.DISCLOSED, CaseState.DUPLICATE, CaseState.INVALID, CaseState.WITHDRAWN}
)


class VendorStatus(StrEnum):
    """VINCE's per-vendor, per-vulnerability status."""

    UNKNOWN = "unknown"
    AFFECTED = "affected"
    NOT_AFFECTED = "not-affected"
    FIXED = "fixed"


class ParticipantRole(StrEnum):
    REPORTER = "reporter"
    COORDINATOR = "coordinator"
    VENDOR = "vendor"  # a maintainer or vendor of an affected product


LinkAction = Literal["acknowledge", "extension", "fixed", "dispute"]
LINK_ACTIONS: tuple[LinkAction, ...] = ("acknowledge", "extension", "fixed", "dispute")


class DisclosureError(EnclaveError):
    code = "disclosure_error"


class DisclosureInputError(DisclosureError, InputError):
    code = "invalid_disclosure_input"


class UnknownCase(DisclosureError, NotFound):
    code = "case_not_found"


class CaseConflict(DisclosureError, Conflict):
    code = "case_conflict"


class DetailsDenied(DisclosureError, PermissionDenied):
    code = "forbidden"


class LinkRefused(DisclosureError, PermissionDenied):
    """An unknown, expired or already used maintainer link (403, one answer for all three so
    that a guesser learns nothing about which tokens exist)."""

    code = "link_refused"


@dataclass(frozen=True, slots=True)
class Cvss:
    vector: str  # the source of truth
    score: float
    severity: str
    computed_by: str  # e.g. "cvss 3.6": the library version that computed the score


@dataclass(frozen=True, slots=True)
class Finding:
    id: FindingId
    case_id: CaseId
    purl: str
    versions: tuple[str, ...]
    location: str
    cwe: int
    cvss: Cvss
    fingerprint: str  # sha256 of (package, CWE, normalised location): the duplicate key
    reporting_org: str
    session_id: str | None
    description: bytes  # AES-GCM ciphertext, never plaintext at rest
    poc: bytes | None  # AES-GCM ciphertext
    poc_name: str | None
    poc_size: int
    created_at: datetime
    duplicate_of: FindingId | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    id: CaseId
    title: str
    product: str  # the package's purl without version: public before publication
    state: CaseState
    created_at: datetime
    updated_at: datetime
    exploited: bool = False
    notified_at: datetime | None = None
    fix_released_at: datetime | None = None
    fixed_version: str | None = None
    deadline: datetime | None = None
    grace_used: bool = False
    published_at: datetime | None = None
    reminded_days: int | None = None  # the smallest reminder window already raised
    osv: str | None = None  # the published records (JSON), once disclosed
    csaf: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    id: ParticipantId
    case_id: CaseId
    role: ParticipantRole
    name: str
    email: str | None = None
    webhook_url: str | None = None
    webhook_secret: bytes | None = None  # AES-GCM ciphertext
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusEntry:
    case_id: CaseId
    participant_id: ParticipantId
    finding_id: FindingId
    status: VendorStatus
    fixed_version: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Link:
    id: LinkId
    token_hash: str
    case_id: CaseId
    participant_id: ParticipantId
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FindingInput:
    title: str
    purl: str
    versions: Sequence[str]
    location: str
    cwe: str | int
    cvss_vector: str
    description: str
    reporting_org: str
    session_id: str | None = None
    poc: bytes | None = None
    poc_name: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    finding: Finding
    case: Case
    duplicate_of: FindingId | None


@dataclass(frozen=True, slots=True)
class Overview:
    """A case without embargoed content: safe for every operator role."""

    case: Case
    findings: list[Finding]  # descriptions and PoCs still encrypted: views must drop them
    participants: list[Participant]
    statuses: list[StatusEntry]


@dataclass(frozen=True, slots=True)
class Details:
    overview: Overview
    descriptions: dict[FindingId, str]
    pocs: dict[FindingId, bytes]


@dataclass(frozen=True, slots=True)
class IssuedLink:
    participant: Participant
    token: str
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Reminder:
    case_id: CaseId
    days: int
    deadline: datetime


class DisclosureUnit(EventWriter, EventReader, Protocol):
    def insert_finding(self, finding: Finding) -> None: ...
    def get_finding(self, finding_id: FindingId) -> Finding | None: ...
    def find_by_fingerprint(self, fingerprint: str) -> Finding | None: ...
    def list_findings(self, *, case_id: CaseId | None = None) -> list[Finding]: ...
    def insert_case(self, case: Case) -> None: ...
    def update_case(self, case: Case) -> None: ...
    def get_case(self, case_id: CaseId) -> Case | None: ...
    def list_cases(self, *, state: CaseState | None = None) -> list[Case]: ...
    def insert_participant(self, participant: Participant) -> None: ...
    def list_participants(self, case_id: CaseId) -> list[Participant]: ...
    def upsert_status(self, entry: StatusEntry) -> None: ...
    def list_statuses(self, case_id: CaseId) -> list[StatusEntry]: ...
    def insert_links(self, links: Sequence[Link]) -> None: ...
    def get_link(self, token_hash: str) -> Link | None: ...
    def consume_link(self, link_id: LinkId, at: datetime) -> bool:
        """Mark used only if still unused; False when another use won (single use)."""
        ...


class DisclosureStore(Protocol):
    def unit(self) -> AbstractContextManager[DisclosureUnit]: ...
    def reader(self) -> AbstractContextManager[DisclosureUnit]: ...


__all__ = [
    "CLOSED",
    "Details",
    "FindingInput",
    "IssuedLink",
    "Overview",
    "Reminder",
    "Submitted",
    "FORWARD",
    "LINK_ACTIONS",
    "Case",
    "CaseConflict",
    "CaseId",
    "CaseState",
    "Cvss",
    "DetailsDenied",
    "DisclosureError",
    "DisclosureInputError",
    "DisclosureStore",
    "DisclosureUnit",
    "Finding",
    "FindingId",
    "Link",
    "LinkAction",
    "LinkId",
    "LinkRefused",
    "Participant",
    "ParticipantId",
    "ParticipantRole",
    "StatusEntry",
    "UnknownCase",
    "VendorStatus",
]
