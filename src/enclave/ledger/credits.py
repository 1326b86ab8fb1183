"""The operators' side of the ledger (CLI and admin API): fund pools, grant credits,
read balances and history, propose and apply allocations, check and sweep.

Every method takes the acting :class:`~enclave.registry.Operator` first and checks its
role before anything else: admin funds, grants and sweeps; admin, reviewer and auditor
read. Routes and commands are a thin layer over these methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.ledger import allocation, models
from enclave.ledger.allocation import AssetSignals, Proposal
from enclave.ledger.check import CheckReport
from enclave.ledger.interface import (
    ISSUER,
    Account,
    AccountId,
    AccountKind,
    Code,
    DuplicateTransfer,
    Grant,
    InsufficientCredits,
    LedgerConflict,
    LedgerInputError,
    LedgerStore,
    LedgerUnit,
    Phase,
    Transfer,
    TransferId,
    UnknownAccount,
    consumed_account,
    org_account,
    pool_account,
)
from enclave.ledger.service import LedgerService, SweepReport
from enclave.ledger.writer import TransferWriter, actor_ref, clean_memo, find_org
from enclave.registry import Operator, Organisation, OrgId, OrgStatus
from enclave.registry.service import ADMIN_ROLES, READ_ROLES, require


@dataclass(frozen=True, slots=True)
class Statement:
    """An organisation's credits: what it may spend, what it spent, its grants."""

    org: Organisation
    account: Account | None
    consumed: Account | None
    grants: list[Grant]


class CreditsService:
    def __init__(
        self,
        *,
        store: LedgerStore,
        settings: Settings,
        ledger: LedgerService,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._settings = settings
        self._ledger = ledger
        self._clock = clock
        self._w = TransferWriter(store, clock)

    # -- operators: fund and grant ------------------------------------------------------------

    def fund(
        self,
        actor: Operator,
        *,
        pool: str,
        amount: int,
        create: bool = False,
        memo: str = "",
        transfer_id: TransferId | None = None,
    ) -> Transfer:
        """Move credits from the issuer into a grant pool (``create`` opens a new pool)."""
        require(actor, ADMIN_ROLES, "funding a pool")
        name = models.valid_pool(pool)
        amount = models.valid_amount(amount)
        memo = clean_memo(memo)
        tid = (
            models.new_transfer_id("fund")
            if transfer_id is None
            else models.valid_transfer_id(transfer_id)
        )
        now = self._clock()
        by = actor_ref(actor)
        wanted = Transfer(
            id=tid,
            phase=Phase.SINGLE,
            code=Code.FUND,
            debit_account=ISSUER,
            credit_account=pool_account(name),
            amount=amount,
            created_at=now,
            actor=by,
            memo=memo,
        )

        def write(unit: LedgerUnit) -> Transfer:
            self._w.open(
                unit,
                Account(
                    id=ISSUER,
                    kind=AccountKind.ISSUER,
                    name="issuer",
                    created_at=now,
                    overdraft=True,
                ),
                by,
            )
            if unit.get_account(wanted.credit_account) is None:
                if not create:
                    raise UnknownAccount(
                        f"unknown pool {name!r}",
                        hint="check `enclave credits pools`, or open it with --new",
                    )
                self._w.open(
                    unit,
                    Account(
                        id=wanted.credit_account, kind=AccountKind.POOL, name=name, created_at=now
                    ),
                    by,
                )
            stored = unit.insert_transfer(wanted)
            unit.apply(models.effects(stored, None), guard=None)
            self._w.event(unit, stored)
            return stored

        return self._w.write(wanted, write)

    def grant(
        self,
        actor: Operator,
        *,
        pool: str,
        org: str,
        amount: int,
        expires_at: datetime | None = None,
        expires_in: timedelta | None = None,
        memo: str = "",
        transfer_id: TransferId | None = None,
    ) -> Transfer:
        """Grant credits from a pool to an approved organisation, optionally expiring
        (the unused rest then moves to ``expired`` when the sweeper runs)."""
        require(actor, ADMIN_ROLES, "granting credits")
        name = models.valid_pool(pool)
        amount = models.valid_amount(amount)
        memo = clean_memo(memo)
        if expires_at is not None and expires_in is not None:
            raise LedgerInputError("give expires_at or expires_in, not both")
        if expires_in is not None and expires_in <= timedelta(0):
            raise LedgerInputError("expires_in must be a positive duration")
        tid = (
            models.new_transfer_id("grant")
            if transfer_id is None
            else models.valid_transfer_id(transfer_id)
        )
        now = self._clock()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise LedgerInputError("expires_at must carry a time zone")
            if expires_at <= now:
                raise LedgerInputError("expires_at must be in the future")
        by = actor_ref(actor)

        def write(unit: LedgerUnit) -> Transfer:
            found = find_org(unit, org)
            existing = unit.get_transfer(tid)
            # A retry of a relative expiry ("90d") means 90 days from the first attempt.
            base = existing.created_at if existing is not None else now
            until = expires_at if expires_in is None else base + expires_in
            wanted = Transfer(
                id=tid,
                phase=Phase.SINGLE,
                code=Code.GRANT,
                debit_account=pool_account(name),
                credit_account=org_account(found.id),
                amount=amount,
                created_at=now,
                actor=by,
                grant_expires_at=until,
                memo=memo,
            )
            if existing is not None:
                return self._w.same_or_error(unit, wanted)
            if not found.is_active(now):
                raise LedgerConflict(
                    f"organisation {found.name} is {found.status.value}"
                    + (" (approval expired)" if found.status is OrgStatus.APPROVED else ""),
                    hint="credits are granted only to approved organisations",
                )
            if unit.get_account(wanted.debit_account) is None:
                raise UnknownAccount(f"unknown pool {name!r}", hint="see `enclave credits pools`")
            self._open_org(unit, found, now, by)
            if not unit.apply(models.effects(wanted, None), guard=wanted.debit_account):
                account = unit.get_account(wanted.debit_account)
                available = account.balance.available if account else 0
                raise InsufficientCredits(
                    f"pool {name} has {models.format_credits(available)} credits; "
                    f"the grant needs {models.format_credits(amount)}",
                    account=wanted.debit_account,
                    available=available,
                    requested=amount,
                )
            stored = unit.insert_transfer(wanted)
            self._w.event(unit, stored, org=found.id, pool=name)
            return stored

        try:
            with self._store.unit() as unit:
                return write(unit)
        except DuplicateTransfer:
            # Lost a race with the same id: the retry path inside `write` compares.
            with self._store.unit() as unit:
                return write(unit)

    def _open_org(self, unit: LedgerUnit, org: Organisation, now: datetime, by: str) -> None:
        self._w.open(
            unit,
            Account(
                id=org_account(org.id),
                kind=AccountKind.ORG,
                name=org.name,
                created_at=now,
                org_id=org.id,
            ),
            by,
        )
        self._w.open(
            unit,
            Account(
                id=consumed_account(org.id),
                kind=AccountKind.CONSUMED,
                name=org.name,
                created_at=now,
                org_id=org.id,
            ),
            by,
        )

    # -- operators: reads ---------------------------------------------------------------------

    def statement(self, actor: Operator, org: str) -> Statement:
        require(actor, READ_ROLES, "reading credits")
        with self._store.reader() as unit:
            found = find_org(unit, org)
            return Statement(
                org=found,
                account=unit.get_account(org_account(found.id)),
                consumed=unit.get_account(consumed_account(found.id)),
                grants=unit.grants(account=org_account(found.id)),
            )

    def accounts(self, actor: Operator, *, kind: str | None = None) -> list[Account]:
        require(actor, READ_ROLES, "reading credits")
        wanted = None
        if kind is not None:
            try:
                wanted = AccountKind(kind)
            except ValueError:
                raise LedgerInputError(
                    f"unknown account kind {kind!r}",
                    hint=f"one of {', '.join(k.value for k in AccountKind)}",
                ) from None
        with self._store.reader() as unit:
            return unit.list_accounts(kind=wanted)

    def pools(self, actor: Operator) -> list[Account]:
        return self.accounts(actor, kind=AccountKind.POOL.value)

    def history(
        self, actor: Operator, ref: str, *, limit: int = 50, before: int | None = None
    ) -> tuple[Account, list[Transfer]]:
        """Transfers of an account (``issuer``, ``pool:<name>``, ``expired``, ...) or of
        an organisation's credits account (by name or id), newest first."""
        require(actor, READ_ROLES, "reading credits")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise LedgerInputError("limit must be between 1 and 1000")
        with self._store.reader() as unit:
            account = self._account(unit, ref)
            return account, unit.list_transfers(account=account.id, before=before, limit=limit)

    @staticmethod
    def _account(unit: LedgerUnit, ref: str) -> Account:
        account = unit.get_account(AccountId(ref))
        if account is None and ":" not in ref:
            account = unit.get_account(pool_account(ref))
            if account is None:
                org = unit.get_org(OrgId(ref)) or unit.get_org_by_name(ref)
                if org is not None:
                    account = unit.get_account(org_account(org.id))
        if account is None:
            raise UnknownAccount(
                f"unknown account {ref!r}",
                hint="an organisation name or id, a pool name, issuer, expired, or "
                "consumed:<org id>",
            )
        return account

    def grants(self, actor: Operator, *, org: str | None = None) -> list[Grant]:
        require(actor, READ_ROLES, "reading credits")
        with self._store.reader() as unit:
            account = org_account(find_org(unit, org).id) if org else None
            return unit.grants(account=account)

    def granted_since(self, actor: Operator, since: datetime) -> dict[AccountId, int]:
        require(actor, READ_ROLES, "reading credits")
        with self._store.reader() as unit:
            return unit.granted_since(since)

    def list_orgs(self, actor: Operator) -> list[Organisation]:
        require(actor, READ_ROLES, "reading credits")
        with self._store.reader() as unit:
            return unit.list_orgs()

    def check(self, actor: Operator) -> CheckReport:
        return self._ledger.check(actor)

    def sweep(self, actor: Operator, *, now: datetime | None = None) -> SweepReport:
        return self._ledger.sweep(actor, now=now)

    # -- operators: allocation aid -------------------------------------------------------------

    def propose_allocation(
        self,
        actor: Operator,
        assets: Sequence[AssetSignals],
        *,
        pool: str,
        budget: int,
        window: timedelta = timedelta(days=365),
        min_score: float = 0.0,
        max_share_percent: int = 100,
    ) -> Proposal:
        """Rank maintainer organisations and split ``budget``; grants nothing."""
        require(actor, READ_ROLES, "proposing an allocation")
        name = models.valid_pool(pool)
        budget = models.valid_amount(budget, field="budget")
        if window <= timedelta(0):
            raise LedgerInputError("the look-back window must be positive")
        now = self._clock()
        with self._store.reader() as unit:
            if unit.get_account(pool_account(name)) is None:
                raise UnknownAccount(f"unknown pool {name!r}", hint="see `enclave credits pools`")
            orgs = unit.list_orgs()
            granted = unit.granted_since(now - window)
        received: dict[str, int] = {o.id: granted.get(org_account(o.id), 0) for o in orgs}
        return allocation.propose(
            assets,
            orgs,
            received,
            pool=name,
            budget=budget,
            now=now,
            min_score=min_score,
            max_share_percent=max_share_percent,
        )

    def apply_allocation(
        self, actor: Operator, proposal: Proposal, *, expires_in: timedelta | None = None
    ) -> list[Transfer]:
        """Grant a proposal an operator has confirmed. Each grant's id derives from the
        proposal's digest, so applying it again (after a failure half-way) grants only
        what is missing."""
        require(actor, ADMIN_ROLES, "granting an allocation")
        tag = proposal.digest[:16]
        return [
            self.grant(
                actor,
                pool=proposal.pool,
                org=c.org_id,
                amount=c.amount,
                expires_in=expires_in,
                memo=f"allocation {tag}: criticality {c.criticality}",
                transfer_id=TransferId(f"alloc_{tag}_{c.org_id}"),
            )
            for c in proposal.candidates
            if c.amount > 0
        ]


__all__ = ["CreditsService", "Statement"]
