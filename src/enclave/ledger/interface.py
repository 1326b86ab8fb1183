"""Ledger domain: accounts, two-phase transfers, their errors and the store Protocols.

The model is TigerBeetle's (docs.tigerbeetle.com, "Two-Phase Transfers"): every movement
of credits is an immutable transfer from a debit account to a credit account; a *pending*
transfer holds its amount until a second transfer *posts* part or all of it (the rest
returns), *voids* it, or the sweeper *expires* it. Amounts are integer micro-credits
(1 credit = 1,000,000); a transfer's id is its idempotency key. Balances are a cache of
the transfers (``enclave credits check`` recomputes them).

Accounts::

    issuer ──fund──> pool:<name> ──grant──> org:<org_id> ──reserve/post──> consumed:<org_id>
                                                  └──────grant expiry────> expired

``consumed`` is one account per organisation so that two organisations' reservations never
wait on the same balance row (LiteLLM lost spend increments to exactly that contention).
Nothing here imports a web framework or a database driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, NewType, Protocol

from enclave.errors import ConfigError, Conflict, EnclaveError, InputError, NotFound
from enclave.events import Event, EventReader, EventWriter
from enclave.registry import Organisation, OrgId, OrgStatus

TransferId = NewType("TransferId", str)
AccountId = NewType("AccountId", str)

MICRO = 1_000_000  # micro-credits per credit
# One transfer moves at most a billion credits: sums of many stay far inside int64.
MAX_AMOUNT = 10**15

ISSUER = AccountId("issuer")
EXPIRED = AccountId("expired")


class AccountKind(StrEnum):
    ISSUER = "issuer"  # where credits come from; the only account that may go negative
    POOL = "pool"  # a grant programme, e.g. "oss-maintainers"
    ORG = "org"  # an organisation's spendable credits
    CONSUMED = "consumed"  # what an organisation has spent (one per organisation)
    EXPIRED = "expired"  # what grants left unused when they expired


class Phase(StrEnum):
    """TigerBeetle's transfer flags, as one value."""

    SINGLE = "single"  # posted at once (fund, grant, grant expiry)
    PENDING = "pending"  # a reservation: holds its amount until resolved
    POST = "post"  # resolves a pending transfer, posting at most its amount
    VOID = "void"  # resolves a pending transfer, posting nothing
    EXPIRE = "expire"  # a void made by the sweeper after the pending transfer's timeout


RESOLUTIONS = frozenset({Phase.POST, Phase.VOID, Phase.EXPIRE})


class Code(StrEnum):
    """Why credits moved (TigerBeetle's ``code``)."""

    FUND = "fund"
    GRANT = "grant"
    USAGE = "usage"
    GRANT_EXPIRY = "grant_expiry"


def org_account(org_id: str) -> AccountId:
    return AccountId(f"org:{org_id}")


def consumed_account(org_id: str) -> AccountId:
    return AccountId(f"consumed:{org_id}")


def pool_account(name: str) -> AccountId:
    return AccountId(f"pool:{name}")


@dataclass(frozen=True, slots=True)
class Balance:
    """TigerBeetle's four balance fields. For every account but the issuer, credits are
    what it holds, so ``available`` is what it may still spend."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class Account:
    id: AccountId
    kind: AccountKind
    name: str
    created_at: datetime
    org_id: OrgId | None = None
    # Only the issuer may owe; every other account is refused a transfer that would
    # take its debits past its credits (TigerBeetle's debits_must_not_exceed_credits).
    overdraft: bool = False
    balance: Balance = Balance()


@dataclass(frozen=True, slots=True)
class PriceRef:
    """The price a transfer was made at: integer micro-credits per million tokens, per
    token kind, copied from Settings.prices when the reservation is made."""

    variant: str
    input: int
    output: int
    cache_read: int
    cache_write: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens an upstream call used. ``input_tokens`` excludes cached tokens (Anthropic's
    meaning; for OpenAI subtract ``prompt_tokens_details.cached_tokens``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    id: TransferId
    phase: Phase
    code: Code
    debit_account: AccountId
    credit_account: AccountId
    amount: int
    created_at: datetime
    actor: str
    pending_id: TransferId | None = None  # post/void/expire: the pending transfer resolved
    timeout_seconds: int | None = None  # pending: how long it may stay pending
    timeout_at: datetime | None = None
    grant_expires_at: datetime | None = None  # grant: when its unused rest expires
    grant_id: TransferId | None = None  # grant expiry: the grant that expired
    price: PriceRef | None = None  # reservations and their settlements
    usage: Usage | None = None  # settlements
    memo: str = ""
    key_id: str | None = None  # the API key a reservation was made for
    seq: int = 0  # storage order, assigned by the store


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant as operators see it: the transfer and, once expired, what expired."""

    transfer: Transfer
    expired: Transfer | None = None


# -- errors -------------------------------------------------------------------------------


class LedgerError(EnclaveError):
    code: ClassVar[str] = "ledger_error"


class LedgerInputError(LedgerError, InputError):
    code = "invalid_input"


class UnknownAccount(LedgerError, NotFound):
    code = "unknown_account"


class UnknownTransfer(LedgerError, NotFound):
    code = "unknown_transfer"


class InsufficientCredits(LedgerError, Conflict):
    """Refused: the reservation would overdraw. 402, as Anthropic's billing_error."""

    code = "insufficient_credits"
    status = 402

    def __init__(self, message: str, *, account: AccountId, available: int, requested: int):
        super().__init__(message, hint="an operator can grant credits (`enclave credits grant`)")
        self.account = account
        self.available = available
        self.requested = requested


class TransferExists(LedgerError, Conflict):
    """The id was used before for a different transfer (the id is the idempotency key)."""

    code = "transfer_exists"


class PendingResolved(LedgerError, Conflict):
    code = "pending_already_resolved"


class NotPending(LedgerError, Conflict):
    code = "not_pending"


class ExceedsPending(LedgerError, InputError):
    code = "exceeds_pending_amount"


class LedgerConflict(LedgerError, Conflict):
    code = "conflict"


class UnpricedVariant(LedgerError, ConfigError):
    """No price for the model variant: it cannot be reserved for, so it is not served."""

    code = "model_not_priced"
    status = 503


class DuplicateTransfer(LedgerError, Conflict):
    """Raised by the store when an insert collides on a transfer's id, or on the pending
    or grant it resolves; the service turns it into the idempotent answer or an error."""

    code = "transfer_exists"


class LedgerInconsistent(LedgerError):
    code = "ledger_inconsistent"
    exit_code = 7


# -- storage Protocols ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceDelta:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0


class ReservationUnit(Protocol):
    """The statements a reservation, its resolution and a usage checkpoint run, in one
    transaction: the request path's share of the ledger (the SQL store runs them on the
    database driver; see store/ledger_driver.py)."""

    def get_account(self, account_id: AccountId, *, lock: bool = False) -> Account | None:
        """With ``lock``, hold the row until the transaction ends (FOR UPDATE)."""
        ...

    def apply(
        self, effects: Sequence[tuple[AccountId, BalanceDelta]], *, guard: AccountId | None
    ) -> bool:
        """Add a transfer's two deltas (see models.effects) to its two accounts, in that
        order (debit first: the lock order). With ``guard``, only if that account's
        available stays >= 0, check and change atomic. True when both accounts changed;
        when False the caller must abandon the transaction (one may have changed)."""
        ...

    def insert_transfer(self, transfer: Transfer) -> Transfer:
        """Append; returns it with its ``seq``. Raises DuplicateTransfer on a reused id
        or a second resolution of one pending transfer or grant."""
        ...

    def get_transfer(self, transfer_id: TransferId) -> Transfer | None: ...
    def resolution_of(self, pending_id: TransferId) -> Transfer | None: ...

    def hold(self, transfer: Transfer) -> None:
        """Index a pending transfer as open (for the sweeper)."""
        ...

    def release(self, pending_id: TransferId) -> bool:
        """Remove a pending transfer from the open index; True for the one caller that
        removed it. This is the claim that makes a second resolution lose."""
        ...

    def latest_usage(self, pending_id: TransferId) -> tuple[Usage, bool] | None:
        """The newest usage recorded for a pending transfer and whether it was final."""
        ...

    def append_many(self, events: Sequence[Event]) -> None:
        """Append events in this transaction (their sequence numbers are not returned)."""
        ...


class LedgerUnit(ReservationUnit, EventWriter, EventReader, Protocol):
    """One transaction over the ledger tables, the events table and (read-only) the
    organisations the ledger refers to."""

    def get_org(self, org_id: OrgId) -> Organisation | None: ...
    def get_org_by_name(self, name: str) -> Organisation | None: ...
    def list_orgs(self, *, status: OrgStatus | None = None) -> list[Organisation]: ...

    def open_account(self, account: Account) -> bool:
        """Insert unless it exists; True when this call created it."""
        ...

    def list_accounts(self, *, kind: AccountKind | None = None) -> list[Account]: ...

    def list_transfers(
        self, *, account: AccountId | None = None, before: int | None = None, limit: int = 100
    ) -> list[Transfer]: ...
    def iter_transfers(self) -> Iterator[Transfer]:
        """Every transfer in storage order (for the check)."""
        ...

    def open_pending(self) -> set[TransferId]: ...
    def stale_pending(self, now: datetime, limit: int) -> list[Transfer]: ...

    def grants(self, *, account: AccountId | None = None) -> list[Grant]: ...
    def due_grants(self, now: datetime, limit: int) -> list[Transfer]:
        """Grants whose expiry has passed and whose rest has not yet been expired."""
        ...

    def granted_since(self, since: datetime) -> dict[AccountId, int]:
        """Credits granted to each account since ``since`` (allocation's "already gets")."""
        ...

    def ledger_event_subjects(self) -> set[str]: ...


class LedgerStore(Protocol):
    def unit(self) -> AbstractContextManager[LedgerUnit]:
        """A write transaction: everything inside commits together or not at all."""
        ...

    def reservations(self) -> AbstractContextManager[ReservationUnit]:
        """A write transaction for a reservation, its resolution or a usage checkpoint:
        the same guarantees as ``unit``, fewer statements, no query builder."""
        ...

    def reader(self) -> AbstractContextManager[LedgerUnit]: ...

    def snapshot(self) -> AbstractContextManager[LedgerUnit]:
        """A read transaction whose every statement sees one snapshot (for the check)."""
        ...


class Ledger(Protocol):
    """What the gateway calls: reserve before the upstream call, then post, settle or
    void. Every method is idempotent on its transfer id and safe to call from many
    threads and processes at once."""

    def reserve(
        self,
        *,
        transfer_id: TransferId,
        org_id: OrgId,
        amount: int,
        timeout: timedelta,
        price: PriceRef,
        actor: str,
        key_id: str | None = None,
    ) -> Transfer: ...

    def post(
        self,
        *,
        pending_id: TransferId,
        amount: int,
        usage: Usage | None = None,
        actor: str = "system",
        transfer_id: TransferId | None = None,
    ) -> Transfer: ...

    def settle(
        self, *, pending_id: TransferId, usage: Usage, actor: str = "system"
    ) -> Transfer: ...

    def void(
        self,
        *,
        pending_id: TransferId,
        reason: str,
        actor: str = "system",
        transfer_id: TransferId | None = None,
    ) -> Transfer: ...

    def record_usage(
        self, *, pending_id: TransferId, usage: Usage, final: bool = False, actor: str = "system"
    ) -> None: ...


__all__ = [
    "EXPIRED",
    "ISSUER",
    "MAX_AMOUNT",
    "MICRO",
    "RESOLUTIONS",
    "Account",
    "AccountId",
    "AccountKind",
    "Balance",
    "BalanceDelta",
    "Code",
    "DuplicateTransfer",
    "ExceedsPending",
    "Grant",
    "InsufficientCredits",
    "Ledger",
    "LedgerConflict",
    "LedgerError",
    "LedgerInconsistent",
    "LedgerInputError",
    "LedgerStore",
    "LedgerUnit",
    "NotPending",
    "PendingResolved",
    "Phase",
    "PriceRef",
    "ReservationUnit",
    "Transfer",
    "TransferExists",
    "TransferId",
    "UnknownAccount",
    "UnknownTransfer",
    "UnpricedVariant",
    "Usage",
    "consumed_account",
    "org_account",
    "pool_account",
]
