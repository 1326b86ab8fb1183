"""The ledger service the gateway calls: reserve, then post, settle or void; usage
checkpoints; the sweeper; the check. The only place reservations move credits, each
movement with its event in the same transaction.

Concurrency: a reservation is one conditional UPDATE (``available >= amount``) inside the
write transaction, so the check and the hold cannot be separated by another writer (SQLite
serialises writers with BEGIN IMMEDIATE; PostgreSQL re-evaluates the WHERE on the locked
row). The open-pending index row is the claim for a resolution: deleting it succeeds for
one resolver only; the unique ``pending_id`` of resolutions backs it up in the schema.
Operators fund and grant through :class:`~enclave.ledger.credits.CreditsService`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.events import Event
from enclave.ledger import models
from enclave.ledger.check import CheckReport, verify
from enclave.ledger.interface import (
    EXPIRED,
    Account,
    AccountKind,
    Code,
    DuplicateTransfer,
    ExceedsPending,
    InsufficientCredits,
    Ledger,
    LedgerInputError,
    LedgerStore,
    NotPending,
    PendingResolved,
    Phase,
    PriceRef,
    ReservationUnit,
    Transfer,
    TransferExists,
    TransferId,
    UnknownAccount,
    UnknownTransfer,
    Usage,
    consumed_account,
    org_account,
)
from enclave.ledger.pricing import usage_cost
from enclave.ledger.writer import (
    USAGE_EVENT,
    TransferWriter,
    actor_ref,
    clean_memo,
    past,
    usage_data,
)
from enclave.registry import Operator, OrgId
from enclave.registry.service import ADMIN_ROLES, READ_ROLES, require


@dataclass(frozen=True, slots=True)
class SweepReport:
    reconciled: list[Transfer]  # stale reservations posted from recorded usage
    expired: list[Transfer]  # stale reservations without usage, voided
    grants_expired: list[Transfer]  # grant expiries (amount may be 0: fully used)
    skipped: list[TransferId]  # resolved by someone else while the sweep ran


class LedgerService:
    def __init__(self, *, store: LedgerStore, settings: Settings, clock: Clock = utcnow) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._w = TransferWriter(store, clock)

    # -- the gateway's side: reserve, then post, settle or void ----------------------------

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
    ) -> Transfer:
        """Hold ``amount`` of the organisation's credits for one request, or raise
        InsufficientCredits, atomically. Idempotent on ``transfer_id``."""
        tid = models.valid_transfer_id(transfer_id)
        # Zero is allowed for a variant priced at zero; negative never.
        amount = models.valid_amount(amount, allow_zero=True)
        if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
            raise LedgerInputError("timeout must be a positive duration")
        if not isinstance(price, PriceRef):
            raise LedgerInputError("price must be the PriceRef the amount was estimated at")
        seconds = -(-int(timeout.total_seconds() * 1_000_000) // 1_000_000)
        now = self._clock()
        wanted = Transfer(
            id=tid,
            phase=Phase.PENDING,
            code=Code.USAGE,
            debit_account=org_account(org_id),
            credit_account=consumed_account(org_id),
            amount=amount,
            created_at=now,
            actor=actor,
            timeout_seconds=seconds,
            timeout_at=now + timedelta(seconds=seconds),
            price=price,
            key_id=key_id,
        )

        def write(unit: ReservationUnit) -> Transfer:
            debit = wanted.debit_account
            try:
                stored = unit.insert_transfer(wanted)  # a reused id stops here
            except UnknownAccount:
                # Never granted anything: refused even at a zero price, so that only
                # organisations an operator has funded are served.
                raise InsufficientCredits(
                    f"organisation {org_id} has no credits account (never granted credits)",
                    account=debit,
                    available=0,
                    requested=amount,
                ) from None
            unit.hold(stored)
            self._w.event(unit, stored)
            # The balance rows last: on PostgreSQL their locks are then held only from here
            # to the commit, so one organisation's concurrent reservations queue briefly.
            if not unit.apply(models.effects(stored, None), guard=debit):
                account = unit.get_account(debit)
                available = account.balance.available if account else 0
                raise InsufficientCredits(
                    f"organisation {org_id} has {models.format_credits(available)} credits "
                    f"available; this request needs up to {models.format_credits(amount)}",
                    account=debit,
                    available=available,
                    requested=amount,
                )
            return stored

        return self._w.reserve(wanted, write)

    def post(
        self,
        *,
        pending_id: TransferId,
        amount: int,
        usage: Usage | None = None,
        actor: str = "system",
        transfer_id: TransferId | None = None,
    ) -> Transfer:
        """Charge ``amount`` (at most the reservation) and return the rest."""
        amount = models.valid_amount(amount, allow_zero=True)
        if usage is not None:
            models.valid_usage(usage)
        outcome = Outcome(Phase.POST, amount, usage=usage)
        return self._resolve(pending_id, transfer_id, actor, lambda _p, _u: outcome)[0]

    def settle(self, *, pending_id: TransferId, usage: Usage, actor: str = "system") -> Transfer:
        """Post the cost of ``usage`` at the price recorded on the reservation (a price
        change applies to new requests only). A cost above the reservation is capped at
        it and the difference recorded as ``uncharged`` in the event: a post can never
        exceed its reservation, and the reservation is a worst case, so this only
        happens when the upstream overran ``max_tokens`` or the input bound was tuned
        below the true one."""
        models.valid_usage(usage)
        return self._resolve(pending_id, None, actor, lambda p, _u: _cost_of(p, usage))[0]

    def void(
        self,
        *,
        pending_id: TransferId,
        reason: str,
        actor: str = "system",
        transfer_id: TransferId | None = None,
    ) -> Transfer:
        """Release the whole reservation: the upstream call failed before serving."""
        memo = clean_memo(reason, required=True, field="reason")
        outcome = Outcome(Phase.VOID, 0, memo=memo)
        return self._resolve(pending_id, transfer_id, actor, lambda _p, _u: outcome)[0]

    def _resolve(
        self,
        pending_id: TransferId,
        transfer_id: TransferId | None,
        actor: str,
        decide: Callable[[Transfer, ReservationUnit], Outcome],
    ) -> tuple[Transfer, bool]:
        """Resolve a pending transfer as ``decide`` says, inside the transaction that
        claims it; the flag is False when an identical resolution existed already (an
        idempotent retry), so the sweeper counts only its own."""
        pid = models.valid_transfer_id(pending_id, field="pending_id")
        given = None if transfer_id is None else models.valid_transfer_id(transfer_id)
        now = self._clock()
        wanted: Transfer | None = None

        def write(unit: ReservationUnit) -> tuple[Transfer, bool]:
            nonlocal wanted
            pending = unit.get_transfer(pid)
            if pending is None:
                raise UnknownTransfer(f"unknown pending transfer {pid!r}")
            if pending.phase is not Phase.PENDING:
                raise NotPending(f"transfer {pid} is {pending.phase.value}, not pending")
            claimed = unit.release(pid)  # first: what `decide` reads is then settled too
            out = decide(pending, unit)
            if out.amount > pending.amount:
                raise ExceedsPending(
                    f"cannot post {models.format_credits(out.amount)} credits: the reservation "
                    f"{pid} holds {models.format_credits(pending.amount)} credits",
                    hint="a post is at most its pending amount; the rest returns",
                )
            wanted = Transfer(
                id=given or models.derived_id(pid, out.phase),
                phase=out.phase,
                code=pending.code,
                debit_account=pending.debit_account,
                credit_account=pending.credit_account,
                amount=out.amount,
                created_at=now,
                actor=actor,
                pending_id=pid,
                price=pending.price,
                usage=out.usage,
                memo=out.memo,
                key_id=pending.key_id,
            )
            if not claimed:
                done = unit.resolution_of(pid)
                assert done is not None  # an unindexed pending transfer is resolved
                if done.id == wanted.id and not models.differences(done, wanted):
                    return done, False  # a retry of this very resolution
                raise PendingResolved(
                    f"reservation {pid} was already {past(done.phase)} by {done.id} "
                    f"({models.format_credits(done.amount)} credits); nothing changed"
                )
            stored = unit.insert_transfer(wanted)
            extra: dict[str, object] = {"pending_amount": pending.amount}
            if out.uncharged:
                extra["uncharged"] = out.uncharged
            self._w.event(unit, stored, **extra)
            changed = unit.apply(models.effects(stored, pending), guard=None)  # locks last
            assert changed, "a pending transfer's accounts exist"
            return stored, True

        try:
            with self._store.reservations() as unit:
                return write(unit)
        except DuplicateTransfer:
            with self._store.reader() as unit:
                if wanted is None:  # pragma: no cover - the insert comes after `wanted`
                    raise
                return self._w.same_or_error(unit, wanted), False

    def record_usage(
        self, *, pending_id: TransferId, usage: Usage, final: bool = False, actor: str = "system"
    ) -> None:
        """Checkpoint what a request has used so far (cumulative). If the gateway dies
        before settling, the sweeper posts the newest checkpoint instead of expiring the
        reservation, so a crash never turns a served request into a free one."""
        pid = models.valid_transfer_id(pending_id, field="pending_id")
        models.valid_usage(usage)
        with self._store.reservations() as unit:
            pending = unit.get_transfer(pid)
            if pending is None:
                raise UnknownTransfer(f"unknown pending transfer {pid!r}")
            if pending.phase is not Phase.PENDING:
                raise NotPending(f"transfer {pid} is {pending.phase.value}, not pending")
            done = unit.resolution_of(pid)
            if done is not None:  # too late to count: tell the caller instead of dropping it
                raise PendingResolved(
                    f"reservation {pid} was already {past(done.phase)} by {done.id}"
                )
            data: dict[str, object] = {**usage_data(usage), "final": bool(final)}
            unit.append_many(
                [Event(kind=USAGE_EVENT, actor=actor, subject=pid, at=self._clock(), data=data)]
            )

    def get_transfer(self, transfer_id: TransferId) -> Transfer:
        tid = models.valid_transfer_id(transfer_id)
        with self._store.reader() as unit:
            found = unit.get_transfer(tid)
        if found is None:
            raise UnknownTransfer(f"unknown transfer {tid!r}")
        return found

    def available(self, org_id: OrgId) -> int | None:
        """The organisation's available credits now (None: never granted any)."""
        with self._store.reader() as unit:
            account = unit.get_account(org_account(org_id))
        return None if account is None else account.balance.available

    def check(self, actor: Operator | None = None) -> CheckReport:
        """Recompute every balance from the transfers in one snapshot (see check.py)."""
        if actor is not None:
            require(actor, READ_ROLES, "checking the ledger")
        with self._store.snapshot() as unit:
            return verify(unit)

    # -- the sweeper -------------------------------------------------------------------------

    def sweep(
        self, actor: Operator | None = None, *, now: datetime | None = None, limit: int = 1000
    ) -> SweepReport:
        """Resolve stale reservations and expire grants; safe to run from many processes.

        A reservation past its timeout is first reconciled: if usage was recorded for
        it, that usage is posted (at the reservation's price), so a gateway killed
        mid-stream still charges what it served; only a reservation without any
        recorded usage expires. ``actor=None`` is the gateway's background sweeper.
        """
        if actor is not None:
            require(actor, ADMIN_ROLES, "sweeping the ledger")
        by = actor_ref(actor) if actor is not None else "system:sweeper"
        at = now or self._clock()
        report = SweepReport(reconciled=[], expired=[], grants_expired=[], skipped=[])
        with self._store.reader() as unit:
            stale = unit.stale_pending(at, limit)
        for pending in stale:
            try:
                done, mine = self._resolve(pending.id, None, by, _reconcile)
            except (PendingResolved, TransferExists):
                mine = False
            if not mine:
                report.skipped.append(pending.id)
            elif done.phase is Phase.POST:
                report.reconciled.append(done)
            else:
                report.expired.append(done)
        with self._store.reader() as unit:
            due = unit.due_grants(at, limit)
        for grant in due:
            try:
                report.grants_expired.append(self._expire_grant(grant, at, by))
            except DuplicateTransfer:
                report.skipped.append(grant.id)
        return report

    def _expire_grant(self, grant: Transfer, at: datetime, by: str) -> Transfer:
        org = grant.credit_account
        with self._store.unit() as unit:
            self._w.open(
                unit,
                Account(id=EXPIRED, kind=AccountKind.EXPIRED, name="expired", created_at=at),
                by,
            )
            # Lock the organisation's balance: its reservations must not move between
            # reading what is available and taking the expired part of it.
            account = unit.get_account(org, lock=True)
            assert account is not None  # a grant opened it
            in_force = sum(
                g.transfer.amount
                for g in unit.grants(account=org)
                if g.transfer.id != grant.id
                and (g.transfer.grant_expires_at is None or g.transfer.grant_expires_at > at)
            )
            amount = models.expiring_amount(grant.amount, account.balance.available, in_force)
            expiry = Transfer(
                id=models.derived_id(grant.id, Phase.EXPIRE),
                phase=Phase.SINGLE,
                code=Code.GRANT_EXPIRY,
                debit_account=org,
                credit_account=EXPIRED,
                amount=amount,
                created_at=self._clock(),
                actor=by,
                grant_id=grant.id,
                memo=f"unused rest of grant {grant.id}",
            )
            stored = unit.insert_transfer(expiry)
            changed = unit.apply(models.effects(stored, None), guard=org)
            assert changed, "expiry never exceeds what is available"
            self._w.event(unit, stored, granted=grant.amount, in_force=in_force)
            return stored


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a reservation is resolved: phase, amount posted, and what was not charged."""

    phase: Phase
    amount: int
    uncharged: int = 0
    usage: Usage | None = None
    memo: str = ""


def _cost_of(pending: Transfer, usage: Usage) -> Outcome:
    """Post the cost of ``usage`` at the reservation's price, capped at the reservation."""
    assert pending.price is not None  # every reservation records its price
    cost = usage_cost(pending.price, usage)
    charged = min(cost, pending.amount)
    return Outcome(Phase.POST, charged, cost - charged, usage)


def _reconcile(pending: Transfer, unit: ReservationUnit) -> Outcome:
    """The sweeper's decision, read in the transaction that claimed the reservation: the
    newest usage checkpoint is posted; without one the reservation expires."""
    found = unit.latest_usage(pending.id)
    if found is None:
        return Outcome(Phase.EXPIRE, 0, memo="timed out without recorded usage")
    return _cost_of(pending, found[0])


def _implements(service: LedgerService) -> Ledger:
    return service  # mypy proves LedgerService is the Ledger the gateway is promised


__all__ = ["USAGE_EVENT", "LedgerService", "SweepReport"]
