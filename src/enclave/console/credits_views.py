"""What the console's credits pages show, and its two credits actions (fund a pool, grant
to an organisation), gathered through ``enclave.ledger.CreditsService``: the service the
admin API's ``/credits`` routes and `enclave credits` call, so the console checks the same
roles (admin funds and grants; every role reads) and records the same events.

Values here are framework-free: the routes in ``console/credits_pages.py`` render them.
Amounts stay integer micro-credits; ``format_credits`` prints them exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from enclave.errors import NotFound
from enclave.ledger import (
    Account,
    AccountKind,
    CreditsService,
    Grant,
    LedgerInputError,
    Transfer,
    TransferId,
)
from enclave.ledger.models import new_transfer_id, parse_credits, valid_transfer_id
from enclave.registry import Operator, Organisation, OrgStatus, parse_duration

# The longest text fields a form may carry (the ledger's own limits are checked again).
_MAX_MEMO = 2000
_MAX_REF = 200


@dataclass(frozen=True, slots=True)
class PoolRow:
    name: str
    account: str
    available: int
    reserved: int
    funded: int  # credits posted into the pool
    granted: int  # debits posted out of it (grants)


@dataclass(frozen=True, slots=True)
class OrgRow:
    org_id: str
    name: str
    status: str
    tier: str
    available: int
    reserved: int
    granted: int  # credits posted into the organisation's account
    consumed: int


@dataclass(frozen=True, slots=True)
class GrantRow:
    transfer_id: str
    org_id: str
    org_name: str
    pool: str
    amount: int
    created_at: datetime
    expires_at: datetime | None
    expired_amount: int | None  # None while it has not expired
    actor: str
    memo: str


@dataclass(frozen=True, slots=True)
class CreditsOverview:
    issued: int  # everything the issuer has funded pools with
    expired: int
    pools: list[PoolRow]
    orgs: list[OrgRow]
    grants: list[GrantRow]
    # What the forms offer: pools to fund or grant from, organisations that may be granted.
    pool_names: list[str]
    grantable: list[Organisation]


@dataclass(frozen=True, slots=True)
class TransferRow:
    seq: int
    transfer_id: str
    phase: str
    code: str
    debit: str
    credit: str
    amount: int
    created_at: datetime
    actor: str
    memo: str


@dataclass(frozen=True, slots=True)
class OrgCredits:
    org: Organisation
    available: int
    reserved: int
    consumed: int
    grants: list[GrantRow]
    history: list[TransferRow]


def _pool_name(account: str) -> str:
    return account.removeprefix("pool:")


def _grant_row(grant: Grant, names: Mapping[str, str]) -> GrantRow:
    t = grant.transfer
    org_id = t.credit_account.removeprefix("org:")
    return GrantRow(
        transfer_id=t.id,
        org_id=org_id,
        org_name=names.get(org_id, org_id),
        pool=_pool_name(t.debit_account),
        amount=t.amount,
        created_at=t.created_at,
        expires_at=t.grant_expires_at,
        expired_amount=grant.expired.amount if grant.expired is not None else None,
        actor=t.actor,
        memo=t.memo,
    )


def transfer_row(t: Transfer) -> TransferRow:
    return TransferRow(
        seq=t.seq,
        transfer_id=t.id,
        phase=t.phase.value,
        code=t.code.value,
        debit=t.debit_account,
        credit=t.credit_account,
        amount=t.amount,
        created_at=t.created_at,
        actor=t.actor,
        memo=t.memo,
    )


def overview(credits: CreditsService, actor: Operator, *, now: datetime) -> CreditsOverview:
    """Balances per organisation, the pools, every grant (each read role-checked)."""
    accounts = credits.accounts(actor)
    orgs = credits.list_orgs(actor)
    grants = credits.grants(actor)
    names: dict[str, str] = {o.id: o.name for o in orgs}
    by_id: dict[str, Account] = {a.id: a for a in accounts}
    issued = sum(a.balance.debits_posted for a in accounts if a.kind is AccountKind.ISSUER)
    expired = sum(a.balance.credits_posted for a in accounts if a.kind is AccountKind.EXPIRED)
    pools = [
        PoolRow(
            name=a.name,
            account=a.id,
            available=a.balance.available,
            reserved=a.balance.debits_pending,
            funded=a.balance.credits_posted,
            granted=a.balance.debits_posted,
        )
        for a in accounts
        if a.kind is AccountKind.POOL
    ]
    rows = []
    for org in orgs:
        own = by_id.get(f"org:{org.id}")
        spent = by_id.get(f"consumed:{org.id}")
        rows.append(
            OrgRow(
                org_id=org.id,
                name=org.name,
                status=org.status.value,
                tier=org.tier,
                available=own.balance.available if own else 0,
                reserved=own.balance.debits_pending if own else 0,
                granted=own.balance.credits_posted if own else 0,
                consumed=spent.balance.credits_posted if spent else 0,
            )
        )
    return CreditsOverview(
        issued=issued,
        expired=expired,
        pools=pools,
        orgs=rows,
        grants=[_grant_row(g, names) for g in grants],
        pool_names=sorted(p.name for p in pools),
        grantable=[o for o in orgs if o.status is OrgStatus.APPROVED and o.is_active(now)],
    )


def org_credits(
    credits: CreditsService, actor: Operator, ref: str, *, limit: int = 200
) -> OrgCredits:
    """One organisation's statement and the newest transfers of its credits account."""
    statement = credits.statement(actor, ref)
    org = statement.org
    names: dict[str, str] = {org.id: org.name}
    history: list[Transfer] = []
    if statement.account is not None:
        _, history = credits.history(actor, statement.account.id, limit=limit)
    account, consumed = statement.account, statement.consumed
    return OrgCredits(
        org=org,
        available=account.balance.available if account else 0,
        reserved=account.balance.debits_pending if account else 0,
        consumed=consumed.balance.credits_posted if consumed else 0,
        grants=[_grant_row(g, names) for g in statement.grants],
        history=[transfer_row(t) for t in history],
    )


def pool_history(
    credits: CreditsService, actor: Operator, pool: str, *, limit: int = 200
) -> tuple[Account, list[TransferRow]]:
    account, transfers = credits.history(actor, f"pool:{pool}", limit=limit)
    return account, [transfer_row(t) for t in transfers]


# -- forms ---------------------------------------------------------------------------------


def fresh_transfer_id(kind: str) -> str:
    """The idempotency key a form carries (a hidden field made when the form is shown): a
    double submit or a browser retry of the same form moves credits once."""
    return new_transfer_id(kind)


def _text(form: Mapping[str, str], name: str, *, required: bool, limit: int) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise LedgerInputError(f"{name} is required")
    if len(value) > limit:
        raise LedgerInputError(f"{name} is longer than {limit} characters")
    return value


def _amount(form: Mapping[str, str]) -> int:
    """Credits as typed (``12.5``), exactly: a negative, zero or fractional-micro amount
    is refused by the ledger's own parser."""
    return parse_credits(_text(form, "amount", required=True, limit=40))


def _transfer_id(form: Mapping[str, str]) -> TransferId | None:
    raw = form.get("transfer_id", "").strip()
    return valid_transfer_id(raw) if raw else None


def _expiry(form: Mapping[str, str]) -> timedelta | None:
    raw = _text(form, "expires", required=False, limit=16)
    return parse_duration(raw) if raw else None


def _as_input(exc: NotFound) -> LedgerInputError:
    # A name in a submitted form that the ledger does not know (a stale page, or a hand-made
    # request) is a bad form: answered 400 with the same words, not 404 for the page.
    return LedgerInputError(exc.message, hint=exc.hint)


def fund(credits: CreditsService, actor: Operator, form: Mapping[str, str]) -> Transfer:
    """Fund a pool from the issuer (admin; the service checks)."""
    pool = _text(form, "pool", required=True, limit=63)
    amount = _amount(form)
    memo = _text(form, "memo", required=False, limit=_MAX_MEMO)
    create = form.get("create", "") in ("yes", "on", "true", "1")
    tid = _transfer_id(form)
    try:
        return credits.fund(
            actor, pool=pool, amount=amount, create=create, memo=memo, transfer_id=tid
        )
    except NotFound as exc:
        raise _as_input(exc) from None


def grant(credits: CreditsService, actor: Operator, form: Mapping[str, str]) -> Transfer:
    """Grant from a pool to an approved organisation (admin; the service checks)."""
    org = _text(form, "org", required=True, limit=_MAX_REF)
    pool = _text(form, "pool", required=True, limit=63)
    amount = _amount(form)
    expires = _expiry(form)
    memo = _text(form, "memo", required=False, limit=_MAX_MEMO)
    tid = _transfer_id(form)
    try:
        return credits.grant(
            actor,
            pool=pool,
            org=org,
            amount=amount,
            expires_in=expires,
            memo=memo,
            transfer_id=tid,
        )
    except NotFound as exc:
        raise _as_input(exc) from None


__all__ = [
    "CreditsOverview",
    "GrantRow",
    "OrgCredits",
    "OrgRow",
    "PoolRow",
    "TransferRow",
    "fresh_transfer_id",
    "fund",
    "grant",
    "org_credits",
    "overview",
    "pool_history",
    "transfer_row",
]
