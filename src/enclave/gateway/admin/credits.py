"""Credits: fund pools, grant to organisations, balances, history, check, sweep, and the
allocation aid (propose, then apply the exact proposal the operator saw).

A thin layer over ``enclave.ledger.CreditsService``, which checks roles (admin funds,
grants, sweeps and applies; reviewer and auditor read). Amounts are integer micro-credits
(1 credit = 1,000,000); a fractional or string amount is refused by the schema. Wiring: the
composition root sets ``app.state.credits`` and includes ``router`` (docs/credits.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from enclave.gateway.admin.deps import Actor
from enclave.ledger import (
    Account,
    AssetSignals,
    CheckReport,
    CreditsService,
    Grant,
    LedgerConflict,
    Proposal,
    SweepReport,
    Transfer,
    TransferId,
    format_credits,
)
from enclave.ledger.allocation import SIGNAL_NAMES
from enclave.registry import parse_duration

router = APIRouter(prefix="/credits", tags=["credits"])


def get_credits(request: Request) -> CreditsService:
    service = request.app.state.credits
    assert isinstance(service, CreditsService)
    return service


Credits = Annotated[CreditsService, Depends(get_credits)]

Micro = Annotated[StrictInt, Field(gt=0, le=10**15, description="Integer micro-credits.")]
Ref = Annotated[str, Field(min_length=1, max_length=200)]
TransferRef = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=64,
        description="Idempotency key: retrying with the same id never moves credits twice.",
    ),
]
Duration = Annotated[str | None, Field(max_length=16, examples=["90d"])]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FundIn(Body):
    amount: Micro
    create: bool = Field(default=False, description="Open the pool if it does not exist.")
    memo: Annotated[str, Field(max_length=2000)] = ""
    transfer_id: TransferRef = None


class GrantIn(Body):
    org: Ref
    pool: Ref
    amount: Micro
    expires: Duration = Field(default=None, description="Unused credits expire after this.")
    memo: Annotated[str, Field(max_length=2000)] = ""
    transfer_id: TransferRef = None


class AssetIn(Body):
    org: Ref
    asset: Annotated[str, Field(min_length=1, max_length=2000)]
    signals: Annotated[
        dict[str, Annotated[StrictFloat | StrictInt, Field(ge=0)]],
        Field(max_length=len(SIGNAL_NAMES), description=f"Any of: {', '.join(SIGNAL_NAMES)}."),
    ] = {}


class AllocationIn(Body):
    pool: Ref
    budget: Micro
    assets: Annotated[list[AssetIn], Field(min_length=1, max_length=10_000)]
    window_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 365
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    max_share_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 100


class AllocationApply(AllocationIn):
    digest: Annotated[
        str,
        Field(
            pattern=r"^[0-9a-f]{64}$",
            description="The digest of the proposal being confirmed: applied only if the "
            "same inputs still give exactly that proposal.",
        ),
    ]
    expires: Duration = None


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransferView(View):
    seq: int
    id: str
    phase: str
    code: str
    debit_account: str
    credit_account: str
    amount: int
    credits: str
    created_at: datetime
    actor: str
    pending_id: str | None
    timeout_at: datetime | None
    grant_expires_at: datetime | None
    grant_id: str | None
    price: dict[str, Any] | None
    usage: dict[str, int] | None
    memo: str

    @classmethod
    def of(cls, t: Transfer) -> TransferView:
        return cls(
            seq=t.seq,
            id=t.id,
            phase=t.phase.value,
            code=t.code.value,
            debit_account=t.debit_account,
            credit_account=t.credit_account,
            amount=t.amount,
            credits=format_credits(t.amount),
            created_at=t.created_at,
            actor=t.actor,
            pending_id=t.pending_id,
            timeout_at=t.timeout_at,
            grant_expires_at=t.grant_expires_at,
            grant_id=t.grant_id,
            price=None if t.price is None else {k: getattr(t.price, k) for k in t.price.__slots__},
            usage=None if t.usage is None else {k: getattr(t.usage, k) for k in t.usage.__slots__},
            memo=t.memo,
        )


class AccountView(View):
    id: str
    kind: str
    name: str
    org_id: str | None
    available: int
    reserved: int
    debits_posted: int
    credits_posted: int

    @classmethod
    def of(cls, a: Account) -> AccountView:
        b = a.balance
        return cls(
            id=a.id,
            kind=a.kind.value,
            name=a.name,
            org_id=a.org_id,
            available=b.available,
            reserved=b.debits_pending,
            debits_posted=b.debits_posted,
            credits_posted=b.credits_posted,
        )


class GrantView(View):
    grant: TransferView
    expired: TransferView | None

    @classmethod
    def of(cls, g: Grant) -> GrantView:
        return cls(
            grant=TransferView.of(g.transfer),
            expired=TransferView.of(g.expired) if g.expired else None,
        )


class Items(View):
    items: list[Any]


class StatementView(View):
    org_id: str
    org_name: str
    account: AccountView | None
    consumed: AccountView | None
    grants: list[GrantView]


class CheckView(View):
    ok: bool
    accounts: int
    transfers: int
    open_pending: int
    totals: dict[str, int]
    problems: list[str]

    @classmethod
    def of(cls, r: CheckReport) -> CheckView:
        return cls(**{k: getattr(r, k) for k in cls.model_fields})


class SweepView(View):
    reconciled: list[TransferView]
    expired: list[TransferView]
    grants_expired: list[TransferView]
    skipped: list[str]

    @classmethod
    def of(cls, r: SweepReport) -> SweepView:
        return cls(
            reconciled=[TransferView.of(t) for t in r.reconciled],
            expired=[TransferView.of(t) for t in r.expired],
            grants_expired=[TransferView.of(t) for t in r.grants_expired],
            skipped=list(r.skipped),
        )


class CandidateView(View):
    org_id: str
    org_name: str
    criticality: float
    received: int
    weight: float
    amount: int
    assets: list[tuple[str, float]]


class ProposalView(View):
    digest: str
    pool: str
    budget: int
    unallocated: int
    candidates: list[CandidateView]
    excluded: list[tuple[str, str]]

    @classmethod
    def of(cls, p: Proposal) -> ProposalView:
        return cls(
            digest=p.digest,
            pool=p.pool,
            budget=p.budget,
            unallocated=p.unallocated,
            candidates=[
                CandidateView(
                    org_id=c.org_id,
                    org_name=c.org_name,
                    criticality=c.criticality,
                    received=c.received,
                    weight=c.weight,
                    amount=c.amount,
                    assets=list(c.assets),
                )
                for c in p.candidates
            ],
            excluded=list(p.excluded),
        )


def _duration(spec: str | None) -> timedelta | None:
    return parse_duration(spec) if spec is not None else None


@router.get("/accounts")
def list_accounts(
    actor: Actor, credits: Credits, kind: Annotated[str | None, Query(max_length=16)] = None
) -> Items:
    """Every account and its balance (``kind``: issuer, pool, org, consumed, expired)."""
    return Items(items=[AccountView.of(a) for a in credits.accounts(actor, kind=kind)])


@router.get("/accounts/{account}/transfers")
def history(
    account: Annotated[str, Path(min_length=1, max_length=200)],
    actor: Actor,
    credits: Credits,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Items:
    """An account's transfers, newest first; page with ``before=<seq of the last>``."""
    _, transfers = credits.history(actor, account, limit=limit, before=before)
    return Items(items=[TransferView.of(t) for t in transfers])


@router.post("/pools/{pool}/fund", status_code=201)
def fund(
    pool: Annotated[str, Path(min_length=1, max_length=63)],
    body: FundIn,
    actor: Actor,
    credits: Credits,
) -> TransferView:
    """Move credits from the issuer into a grant pool (admin)."""
    t = credits.fund(
        actor,
        pool=pool,
        amount=body.amount,
        create=body.create,
        memo=body.memo,
        transfer_id=TransferId(body.transfer_id) if body.transfer_id else None,
    )
    return TransferView.of(t)


@router.post("/grants", status_code=201)
def grant(body: GrantIn, actor: Actor, credits: Credits) -> TransferView:
    """Grant credits from a pool to an approved organisation (admin)."""
    t = credits.grant(
        actor,
        pool=body.pool,
        org=body.org,
        amount=body.amount,
        expires_in=_duration(body.expires),
        memo=body.memo,
        transfer_id=TransferId(body.transfer_id) if body.transfer_id else None,
    )
    return TransferView.of(t)


@router.get("/grants")
def list_grants(
    actor: Actor, credits: Credits, org: Annotated[str | None, Query(max_length=200)] = None
) -> Items:
    return Items(items=[GrantView.of(g) for g in credits.grants(actor, org=org)])


@router.get("/orgs/{org}")
def statement(
    org: Annotated[str, Path(min_length=1, max_length=200)], actor: Actor, credits: Credits
) -> StatementView:
    """One organisation's credits: available, reserved, consumed, its grants."""
    s = credits.statement(actor, org)
    return StatementView(
        org_id=s.org.id,
        org_name=s.org.name,
        account=AccountView.of(s.account) if s.account else None,
        consumed=AccountView.of(s.consumed) if s.consumed else None,
        grants=[GrantView.of(g) for g in s.grants],
    )


@router.get("/check")
def check(actor: Actor, credits: Credits) -> CheckView:
    """Recompute every balance from the transfers (``ok`` false: see ``problems``)."""
    return CheckView.of(credits.check(actor))


@router.post("/sweep")
def sweep(actor: Actor, credits: Credits) -> SweepView:
    """Reconcile or expire stale reservations and expire grants now (admin)."""
    return SweepView.of(credits.sweep(actor))


def _propose(body: AllocationIn, actor: Actor, credits: CreditsService) -> Proposal:
    assets = [AssetSignals(a.org, a.asset, dict(a.signals)) for a in body.assets]
    return credits.propose_allocation(
        actor,
        assets,
        pool=body.pool,
        budget=body.budget,
        window=timedelta(days=body.window_days),
        min_score=body.min_score,
        max_share_percent=body.max_share_percent,
    )


@router.post("/allocations/propose")
def propose(body: AllocationIn, actor: Actor, credits: Credits) -> ProposalView:
    """Rank maintainer organisations (OpenSSF Criticality Score of their assets, discounted
    by what they already received) and split the budget. Grants nothing."""
    return ProposalView.of(_propose(body, actor, credits))


@router.post("/allocations/apply", status_code=201)
def apply(body: AllocationApply, actor: Actor, credits: Credits) -> Items:
    """Grant a proposal the operator confirmed by its digest (admin). If the inputs now
    give a different proposal (grants made meanwhile), nothing is granted: 409."""
    proposal = _propose(body, actor, credits)
    if proposal.digest != body.digest:
        raise LedgerConflict(
            "the proposal changed since it was shown; nothing was granted",
            hint=f"review the new proposal (digest {proposal.digest}) and confirm that",
        )
    granted = credits.apply_allocation(actor, proposal, expires_in=_duration(body.expires))
    return Items(items=[TransferView.of(t) for t in granted])


__all__ = ["get_credits", "router"]
