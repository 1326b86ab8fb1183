"""Assets domain: what an organisation may target, and the proof that it owns it.

Values are frozen dataclasses; storage is behind :class:`AssetStore`, implemented in
``enclave.store.assets_repo``. Nothing here imports a web framework or a database driver.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from enclave.errors import Conflict, EnclaveError, InputError, NotFound
from enclave.events import EventReader, EventWriter
from enclave.registry.interface import AssetId, Organisation, OrgId


class AssetKind(StrEnum):
    REPO = "repo"  # a git URL
    DOMAIN = "domain"  # the domain and its subdomains
    HOST = "host"  # a host name, an address or a CIDR block
    PACKAGE = "package"  # a purl
    BINARY = "binary"  # sha256:<hex>


class AssetStatus(StrEnum):
    PENDING = "pending"  # claimed, not (or no longer) proven
    VERIFIED = "verified"  # proven, until `expires_at`
    HELD = "held"  # proven, but overlaps another organisation's claim: an operator decides
    REVOKED = "revoked"


class Method(StrEnum):
    HTTP_01 = "http-01"
    DNS_01 = "dns-01"
    REPO_FILE = "repo-file"
    VIA_DOMAIN = "via-domain"  # a host under, or resolved from, a verified domain
    ATTESTATION = "operator-attestation"


class Outcome(StrEnum):
    """Why a challenge check failed; each one names what the owner should fix."""

    WRONG_TOKEN = "wrong_token"  # an answer was found but it is not the key authorisation
    EXPIRED = "expired"  # the challenge token's validity ended; request a new one
    MISSING = "missing"  # no record, 404, or no file on the default branch
    REDIRECT_REFUSED = "redirect_refused"  # a redirect to another host
    TOO_LARGE = "too_large"  # the answer exceeded the size limit
    REFUSED_ADDRESS = "refused_address"  # loopback, link-local, metadata, private...
    UNREACHABLE = "unreachable"  # timeout, connection refused, DNS failure
    NOT_COVERED = "not_covered"  # via-domain: no verified domain vouches for the host


class AssetsError(EnclaveError):
    code = "assets_error"


class AssetInputError(AssetsError, InputError):
    code = "invalid_input"


class UnknownAsset(AssetsError, NotFound):
    code = "not_found"


class AssetConflict(AssetsError, Conflict):
    code = "conflict"


class ChallengeFailed(AssetsError, Conflict):
    """A verification attempt failed; the attempt is recorded, the asset unchanged."""

    code = "challenge_failed"

    def __init__(self, outcome: Outcome, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{outcome.value}: {message}", hint=hint)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Challenge:
    method: Method
    token: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Verification:
    """The verification record: how, with which token, when, by whom, what was seen."""

    method: Method
    token: str
    at: datetime
    by: str  # "system" for challenges, "operator:<id>,operator:<id>" for attestations
    evidence: str


@dataclass(frozen=True, slots=True)
class Attestation:
    by: str  # operator:<id>
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Asset:
    id: AssetId
    org_id: OrgId
    kind: AssetKind
    value: str  # normalised
    status: AssetStatus
    created_at: datetime
    created_by: str
    updated_at: datetime
    reverify_days: int
    challenge: Challenge | None = None
    verification: Verification | None = None
    expires_at: datetime | None = None  # end of the current verification
    attestation: Attestation | None = None  # awaiting a second operator
    hold_reason: str | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    def state(self, now: datetime) -> str:
        """The status as a caller sees it: a verification past its expiry has lapsed."""
        if self.status is AssetStatus.VERIFIED and not self.is_live(now):
            return "lapsed"
        return self.status.value

    def is_live(self, now: datetime) -> bool:
        return (
            self.status is AssetStatus.VERIFIED
            and self.expires_at is not None
            and now < self.expires_at
        )

    def reverify_at(self) -> datetime | None:
        """When to run the challenge again: a week before expiry (ACME clients renew at
        two thirds of a certificate's life; a week is enough slack for a 90-day default)."""
        if self.expires_at is None or self.verification is None:
            return None
        span = self.expires_at - self.verification.at
        return self.expires_at - min(span / 3, timedelta(days=7))


class AssetUnit(EventWriter, EventReader, Protocol):
    """One transaction over the assets table, organisations (read) and events."""

    def get_org(self, ref: str) -> Organisation | None: ...
    def insert_asset(self, asset: Asset) -> None: ...
    def update_asset(self, asset: Asset) -> None: ...
    def get_asset(self, asset_id: AssetId) -> Asset | None: ...
    def list_assets(
        self,
        *,
        org_id: OrgId | None = None,
        kind: AssetKind | None = None,
        status: AssetStatus | None = None,
    ) -> list[Asset]: ...
    def get_assets(self, ids: tuple[AssetId, ...]) -> list[Asset]: ...


class AssetStore(Protocol):
    def unit(self) -> AbstractContextManager[AssetUnit]: ...
    def reader(self) -> AbstractContextManager[AssetUnit]: ...


__all__ = [
    "Asset",
    "AssetConflict",
    "AssetInputError",
    "AssetKind",
    "AssetStatus",
    "AssetStore",
    "AssetUnit",
    "AssetsError",
    "Attestation",
    "Challenge",
    "ChallengeFailed",
    "Method",
    "Outcome",
    "UnknownAsset",
    "Verification",
]
