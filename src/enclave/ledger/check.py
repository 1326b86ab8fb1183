"""`enclave credits check`: prove the cached balances equal the sums of the transfers.

Balances are a cache: every one is recomputed here from the immutable transfers alone,
with the same :func:`~enclave.ledger.models.effects` the service applies, in one database
snapshot. The check also proves what the schema and service promise: each pending
transfer resolved at most once and by no more than it held, the open-pending index equal
to the unresolved reservations, each grant expired at most once, no account but the
issuer below zero, debits equal to credits, and an event for every transfer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from enclave.ledger.interface import (
    RESOLUTIONS,
    AccountId,
    Balance,
    Code,
    LedgerUnit,
    Phase,
    Transfer,
    TransferId,
)
from enclave.ledger.models import effects

_SHOWN = 50  # problems listed in full; the rest are counted


@dataclass(frozen=True, slots=True)
class CheckReport:
    ok: bool
    accounts: int
    transfers: int
    open_pending: int
    totals: dict[str, int]
    problems: list[str] = field(default_factory=list)


def verify(unit: LedgerUnit) -> CheckReport:
    sums: dict[AccountId, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    pending: dict[TransferId, Transfer] = {}
    resolved: set[TransferId] = set()
    grants: dict[TransferId, Transfer] = {}
    expired_grants: set[TransferId] = set()
    ids: set[str] = set()
    problems: list[str] = []
    count = 0
    for t in unit.iter_transfers():
        count += 1
        ids.add(t.id)
        target = None
        if t.phase in RESOLUTIONS:
            target = pending.get(t.pending_id) if t.pending_id else None
            if target is None:
                problems.append(f"{t.id} resolves {t.pending_id}, which is not a pending transfer")
                continue
            if target.id in resolved:
                problems.append(f"{t.id} resolves {target.id} a second time")
            resolved.add(target.id)
            if t.amount > target.amount:
                problems.append(f"{t.id} posts {t.amount}, more than {target.id} held")
            if (t.debit_account, t.credit_account) != (target.debit_account, target.credit_account):
                problems.append(f"{t.id} names other accounts than {target.id}")
        elif t.phase is Phase.PENDING:
            pending[t.id] = t
        if t.code is Code.GRANT:
            grants[t.id] = t
        elif t.code is Code.GRANT_EXPIRY:
            grant = grants.get(t.grant_id) if t.grant_id else None
            if grant is None:
                problems.append(f"{t.id} expires {t.grant_id}, which is not a grant")
            else:
                if grant.id in expired_grants:
                    problems.append(f"{t.id} expires {grant.id} a second time")
                if t.amount > grant.amount:
                    problems.append(f"{t.id} expires more than {grant.id} granted")
                expired_grants.add(grant.id)
        for account_id, delta in effects(t, target):
            s = sums[account_id]
            s[0] += delta.debits_pending
            s[1] += delta.debits_posted
            s[2] += delta.credits_pending
            s[3] += delta.credits_posted

    accounts = unit.list_accounts()
    totals = {"debits_pending": 0, "debits_posted": 0, "credits_pending": 0, "credits_posted": 0}
    for account in accounts:
        b = account.balance
        expected = Balance(*sums.pop(account.id, [0, 0, 0, 0]))
        if b != expected:
            problems.append(
                f"{account.id}: cached {_fmt(b)} but the transfers sum to {_fmt(expected)}"
            )
        if not account.overdraft and (b.available < 0 or b.posted < 0):
            problems.append(f"{account.id}: below zero ({_fmt(b)})")
        if min(b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted) < 0:
            problems.append(f"{account.id}: a negative balance field ({_fmt(b)})")
        totals["debits_pending"] += b.debits_pending
        totals["debits_posted"] += b.debits_posted
        totals["credits_pending"] += b.credits_pending
        totals["credits_posted"] += b.credits_posted
    problems.extend(
        f"{missing}: transfers name it but it has no account" for missing in sorted(sums)
    )
    if totals["debits_posted"] != totals["credits_posted"]:
        problems.append(
            f"posted debits {totals['debits_posted']} != credits {totals['credits_posted']}"
        )
    if totals["debits_pending"] != totals["credits_pending"]:
        problems.append(
            f"pending debits {totals['debits_pending']} != credits {totals['credits_pending']}"
        )

    unresolved = set(pending) - resolved
    indexed = unit.open_pending()
    problems.extend(
        f"{t}: pending and unresolved but not indexed" for t in sorted(unresolved - indexed)
    )
    problems.extend(
        f"{t}: indexed as pending but resolved or unknown" for t in sorted(indexed - unresolved)
    )

    without_event = ids - unit.ledger_event_subjects()
    problems.extend(f"{t}: no ledger event records it" for t in sorted(without_event))

    shown = problems[:_SHOWN]
    if len(problems) > _SHOWN:
        shown.append(f"... and {len(problems) - _SHOWN} more")
    return CheckReport(
        ok=not problems,
        accounts=len(accounts),
        transfers=count,
        open_pending=len(unresolved),
        totals=totals,
        problems=shown,
    )


def _fmt(b: Balance) -> str:
    return (
        f"debits {b.debits_posted}+{b.debits_pending} pending, "
        f"credits {b.credits_posted}+{b.credits_pending} pending"
    )


__all__ = ["CheckReport", "verify"]
