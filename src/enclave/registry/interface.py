"""Registry domain: organisations, vetting, keys and operators.

Values are frozen dataclasses; storage is behind :class:`RegistryStore`, implemented in
``enclave.store``. Nothing here imports a web framework or a database driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, NewType, Protocol

from enclave.errors import AuthError, Conflict, EnclaveError, InputError, NotFound, PermissionDenied
from enclave.events import EventReader, EventWriter

OrgId = NewType("OrgId", str)
KeyId = NewType("KeyId", str)
OperatorId = NewType("OperatorId", str)
ApplicationId = NewType("ApplicationId", str)
AssetId = NewType("AssetId", str)


class OrgKind(StrEnum):
    PARTNER = "partner"
    MAINTAINER = "maintainer"
    PUBLIC = "public"
    OPERATOR = "operator"


class OrgStatus(StrEnum):
    APPLIED = "applied"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    # Not in the list, but a vetting queue needs a terminal "no": an application
    # turned down leaves the organisation here rather than pending forever.
    REJECTED = "rejected"


class Role(StrEnum):
    ADMIN = "admin"  # everything
    REVIEWER = "reviewer"  # vetting decisions, reads
    AUDITOR = "auditor"  # reads only


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


Decision = Literal["approve", "reject"]


class RegistryError(EnclaveError):
    code = "registry_error"


class UnknownEntity(RegistryError, NotFound):
    code = "not_found"


class RegistryConflict(RegistryError, Conflict):
    code = "conflict"


class RegistryInputError(RegistryError, InputError):
    code = "invalid_input"


class CredentialError(RegistryError, AuthError):
    code = "invalid_credential"


class RoleDenied(RegistryError, PermissionDenied):
    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Evidence:
    text: str = ""
    links: tuple[str, ...] = ()
    attachments: tuple[tuple[str, str], ...] = ()  # (name, "sha256:<hex>")


@dataclass(frozen=True, slots=True)
class Organisation:
    id: OrgId
    name: str
    kind: OrgKind
    sector: str
    contact: str
    tier: str
    status: OrgStatus
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None = None
    approval_expires_at: datetime | None = None
    # Named (with its requests and credits spent) in the public transparency report;
    # otherwise it appears there only inside counts (docs/transparency.md).
    report_opt_in: bool = False

    def is_active(self, now: datetime) -> bool:
        return (
            self.status is OrgStatus.APPROVED
            and self.approval_expires_at is not None
            and now < self.approval_expires_at
        )


@dataclass(frozen=True, slots=True)
class Approval:
    operator_id: OperatorId
    decision: Decision
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Application:
    id: ApplicationId
    org_id: OrgId
    tier: str
    evidence: Evidence
    status: ApplicationStatus
    submitted_by: str
    submitted_at: datetime
    decisions: tuple[Approval, ...] = ()
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyLimits:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: KeyId
    prefix: str
    org_id: OrgId
    name: str
    purposes: tuple[str, ...]
    scope: tuple[AssetId, ...]
    limits: KeyLimits
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def state(self, now: datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """How a key or token rests in the database: lookup prefix and keyed hash."""

    prefix: str
    digest: str


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class Operator:
    id: OperatorId
    name: str
    roles: frozenset[Role]
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    operator: Operator
    token: str  # shown once


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the client APIs: the resolved identity every later stage uses."""

    key: ApiKey
    org: Organisation

    @property
    def tier(self) -> str:
        return self.org.tier


class RegistryUnit(EventWriter, EventReader, Protocol):
    """One transaction over the registry tables and the events table."""

    def insert_org(self, org: Organisation) -> None: ...
    def update_org(self, org: Organisation) -> None: ...
    def get_org(self, org_id: OrgId) -> Organisation | None: ...
    def get_org_by_name(self, name: str) -> Organisation | None: ...
    def list_orgs(self, *, status: OrgStatus | None = None) -> list[Organisation]: ...

    def insert_application(self, app: Application) -> None: ...
    def get_application(self, app_id: ApplicationId) -> Application | None: ...
    def list_applications(
        self, *, org_id: OrgId | None = None, status: ApplicationStatus | None = None
    ) -> list[Application]: ...
    def add_decision(self, app_id: ApplicationId, approval: Approval) -> None: ...
    def set_application_status(
        self, app_id: ApplicationId, status: ApplicationStatus, at: datetime
    ) -> None: ...

    def insert_key(self, key: ApiKey, secret: StoredSecret) -> None: ...
    def get_key(self, key_id: KeyId) -> ApiKey | None: ...
    def find_key_by_prefix(self, prefix: str) -> tuple[ApiKey, str, Organisation] | None: ...
    def list_keys(self, *, org_id: OrgId | None = None) -> list[ApiKey]: ...
    def revoke_key(self, key_id: KeyId, at: datetime, by: str, reason: str) -> None: ...

    def insert_operator(self, op: Operator) -> None: ...
    def get_operator_by_name(self, name: str) -> Operator | None: ...
    def list_operators(self) -> list[Operator]: ...
    def insert_operator_token(
        self, operator_id: OperatorId, secret: StoredSecret, at: datetime
    ) -> None: ...
    def find_operator_by_token_prefix(self, prefix: str) -> tuple[Operator, str] | None: ...


class AssetScope(Protocol):
    """Which assets a key may be scoped to: implemented by the assets service
    (enclave.assets), which owns verification. Declared here so the registry does not
    import it."""

    def require_scope(self, org_id: OrgId, asset_ids: Sequence[AssetId], now: datetime) -> None:
        """Raise RegistryInputError unless every id is a verified asset of ``org_id``."""
        ...

    def live_scope(
        self, org_id: OrgId, asset_ids: Sequence[AssetId], now: datetime
    ) -> tuple[AssetId, ...]:
        """The subset of ``asset_ids`` verified for ``org_id`` at ``now``."""
        ...


class RegistryStore(Protocol):
    def unit(self) -> AbstractContextManager[RegistryUnit]:
        """A write transaction: everything inside commits together or not at all."""
        ...

    def reader(self) -> AbstractContextManager[RegistryUnit]:
        """A read-only snapshot (never takes the write lock)."""
        ...


__all__ = [
    "ApiKey",
    "Application",
    "ApplicationId",
    "ApplicationStatus",
    "Approval",
    "AssetId",
    "AssetScope",
    "CredentialError",
    "Decision",
    "Evidence",
    "IssuedKey",
    "IssuedToken",
    "KeyId",
    "KeyLimits",
    "Operator",
    "OperatorId",
    "OrgId",
    "OrgKind",
    "OrgStatus",
    "Organisation",
    "Principal",
    "RegistryConflict",
    "RegistryError",
    "RegistryInputError",
    "RegistryStore",
    "RegistryUnit",
    "Role",
    "RoleDenied",
    "StoredSecret",
    "UnknownEntity",
]
