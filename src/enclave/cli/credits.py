"""`enclave credits`: fund pools, grant credits, read balances and history, check the
ledger, run the sweeper and propose allocations (see docs/credits.md).

Amounts on the command line are credits with up to six decimals (``12.5``); the ledger
stores integer micro-credits. ``check`` exits 7 when a balance disagrees with its
transfers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from enclave.cli import _common
from enclave.ledger import (
    Account,
    AccountKind,
    CreditsService,
    LedgerInconsistent,
    LedgerInputError,
    Proposal,
    Transfer,
    format_credits,
    parse_assets,
    parse_credits,
)
from enclave.ledger.interface import TransferId
from enclave.registry import Operator, parse_duration
from enclave.runtime import Runtime
from enclave.store.ledger_repo import open_credits

app = typer.Typer(
    help="Credits: fund pools, grant to organisations, balances, history, check, allocate.",
    no_args_is_help=True,
)


def _opt(flag: str, help_: str, **kw: Any) -> Any:
    name = flag.lstrip("-").replace("-", "_").upper()
    return typer.Option(flag, envvar=f"ENCLAVE_CLI_CREDITS_{name}", help=help_, **kw)


Pool = Annotated[str, _opt("--pool", "Grant pool name, e.g. oss-maintainers.")]
Amount = Annotated[str, _opt("--amount", "Credits, e.g. 250 or 12.5 (up to 6 decimals).")]
Memo = Annotated[str, _opt("--memo", "A note recorded with the transfer.")]
TransferRef = Annotated[
    str | None,
    _opt(
        "--id",
        "Transfer id (idempotency key): retrying with the same id never moves credits twice.",
        metavar="ID",
    ),
]


@contextmanager
def _credits(as_: str | None) -> Iterator[tuple[Runtime, CreditsService, Operator]]:
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        _ledger, service = open_credits(rt.db, rt.settings)
        yield rt, service, actor


def _amount(text: str) -> int:
    return _common.guarded(lambda: parse_credits(text))


def _transfer_record(t: Transfer) -> dict[str, Any]:
    record = asdict(t)
    record["credits"] = format_credits(t.amount)
    return record


def _account_record(a: Account) -> dict[str, Any]:
    record = asdict(a)
    record["available"] = a.balance.available
    record["posted"] = a.balance.posted
    return record


def _show_transfer(verb: str, t: Transfer) -> None:
    _common.out.print(
        f"{verb} {format_credits(t.amount)} credits: {t.debit_account} -> {t.credit_account} "
        f"(transfer {t.id})",
        markup=False,
    )


@app.command("fund")
def fund(
    pool: Pool,
    amount: Amount,
    new: Annotated[bool, _opt("--new", "Open the pool if it does not exist yet.")] = False,
    memo: Memo = "",
    transfer_id: TransferRef = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Move credits from the issuer into a grant pool (admin)."""
    micro = _amount(amount)
    with _credits(as_) as (_rt, service, actor):
        t = _common.guarded(
            lambda: service.fund(
                actor,
                pool=pool,
                amount=micro,
                create=new,
                memo=memo,
                transfer_id=TransferId(transfer_id) if transfer_id else None,
            )
        )
    if as_json:
        _common.emit_json(_transfer_record(t))
        return
    _show_transfer("Funded", t)


@app.command("grant")
def grant(
    org: Annotated[str, _opt("--org", "Organisation name or id.")],
    pool: Pool,
    amount: Amount,
    expires: Annotated[
        str | None,
        _opt(
            "--expires",
            "Unused credits expire after this long, e.g. 90d. [default: never]",
            metavar="DURATION",
            show_default=False,
        ),
    ] = None,
    memo: Memo = "",
    transfer_id: TransferRef = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Grant credits from a pool to an approved organisation (admin)."""
    micro = _amount(amount)
    life = _common.guarded(lambda: parse_duration(expires)) if expires else None
    with _credits(as_) as (_rt, service, actor):
        t = _common.guarded(
            lambda: service.grant(
                actor,
                pool=pool,
                org=org,
                amount=micro,
                expires_in=life,
                memo=memo,
                transfer_id=TransferId(transfer_id) if transfer_id else None,
            )
        )
    if as_json:
        _common.emit_json(_transfer_record(t))
        return
    _show_transfer("Granted", t)
    if t.grant_expires_at:
        _common.out.print(f"Unused credits expire {_common.when(t.grant_expires_at)}.")


@app.command("balance")
def balance(
    org: Annotated[
        str | None, _opt("--org", "One organisation (name or id). [default: all accounts]")
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Balances: one organisation's credits and grants, or every account."""
    with _credits(as_) as (_rt, service, actor):
        if org is None:
            accounts = _common.guarded(lambda: service.accounts(actor))
        else:
            statement = _common.guarded(lambda: service.statement(actor, org))
    if org is None:
        if as_json:
            _common.emit_json([_account_record(a) for a in accounts])
            return
        _accounts_table(accounts)
        return
    if as_json:
        _common.emit_json(
            {
                "org": statement.org,
                "account": _account_record(statement.account) if statement.account else None,
                "consumed": _account_record(statement.consumed) if statement.consumed else None,
                "grants": statement.grants,
            }
        )
        return
    acc = statement.account
    _common.out.print(f"{statement.org.name} ({statement.org.id})", markup=False)
    _common.fields(
        [
            ("available", format_credits(acc.balance.available) if acc else "0"),
            ("reserved", format_credits(acc.balance.debits_pending) if acc else "0"),
            (
                "consumed",
                format_credits(statement.consumed.balance.credits_posted)
                if statement.consumed
                else "0",
            ),
        ]
    )
    _common.table(
        "grant",
        "amount",
        "granted",
        "expires",
        "expired",
        keep=("grant",),
        rows=(
            (
                g.transfer.id,
                format_credits(g.transfer.amount),
                _common.when(g.transfer.created_at),
                _common.when(g.transfer.grant_expires_at),
                format_credits(g.expired.amount) if g.expired else "-",
            )
            for g in statement.grants
        ),
    )


def _accounts_table(accounts: list[Account]) -> None:
    _common.table(
        "account",
        "kind",
        "name",
        "available",
        "reserved",
        "posted",
        keep=("account", "name"),
        rows=(
            (
                a.id,
                a.kind.value,
                a.name,
                "-" if a.kind is AccountKind.ISSUER else format_credits(a.balance.available),
                format_credits(a.balance.debits_pending + a.balance.credits_pending),
                format_credits(a.balance.posted),
            )
            for a in accounts
        ),
    )


@app.command("pools")
def pools(as_: _common.ActingOperator = None, as_json: _common.JsonOutput = False) -> None:
    """Grant pools and what each still holds."""
    with _credits(as_) as (_rt, service, actor):
        found = _common.guarded(lambda: service.pools(actor))
    if as_json:
        _common.emit_json([_account_record(a) for a in found])
        return
    _accounts_table(found)


@app.command("history")
def history(
    account: Annotated[
        str,
        typer.Argument(
            metavar="ACCOUNT",
            help="Organisation name or id, pool name, issuer, expired or consumed:<org id>.",
        ),
    ],
    limit: Annotated[int, _opt("--limit", "Most recent transfers to show.")] = 50,
    before: Annotated[
        int | None, _opt("--before", "Only transfers before this sequence number (paging).")
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Transfers of one account, newest first."""
    with _credits(as_) as (_rt, service, actor):
        found, transfers = _common.guarded(
            lambda: service.history(actor, account, limit=limit, before=before)
        )
    if as_json:
        _common.emit_json([_transfer_record(t) for t in transfers])
        return
    _common.out.print(f"{found.id} ({found.kind.value})", markup=False)
    _common.table(
        "seq",
        "at",
        "transfer",
        "phase",
        "code",
        "amount",
        "other account",
        "price",
        keep=("transfer",),
        rows=(
            (
                t.seq,
                _common.when(t.created_at),
                t.id,
                t.phase.value,
                t.code.value,
                ("-" if t.debit_account == found.id else "+") + format_credits(t.amount),
                t.credit_account if t.debit_account == found.id else t.debit_account,
                t.price.variant if t.price else "-",
            )
            for t in transfers
        ),
    )


@app.command("check")
def check(as_: _common.ActingOperator = None, as_json: _common.JsonOutput = False) -> None:
    """Recompute every balance from the transfers; exit 7 if any disagrees."""
    with _credits(as_) as (_rt, service, actor):
        report = _common.guarded(lambda: service.check(actor))
    if as_json:
        _common.emit_json(report)
    else:
        _common.fields(
            [
                ("accounts", report.accounts),
                ("transfers", report.transfers),
                ("open reservations", report.open_pending),
                ("posted debits = credits", format_credits(report.totals["debits_posted"])),
            ]
        )
        for problem in report.problems:
            _common.err.print(f"  {problem}", markup=False)
    if not report.ok:
        _common.fail(
            LedgerInconsistent(
                f"the ledger check found {len(report.problems)} problem(s)",
                hint="balances are a cache of the transfers; investigate before repairing",
            )
        )
    if not as_json:
        _common.out.print("ok: every balance equals the sum of its transfers")


@app.command("sweep")
def sweep(as_: _common.ActingOperator = None, as_json: _common.JsonOutput = False) -> None:
    """Reconcile or expire stale reservations and expire grants now (admin)."""
    with _credits(as_) as (_rt, service, actor):
        report = _common.guarded(lambda: service.sweep(actor))
    if as_json:
        _common.emit_json(report)
        return
    _common.fields(
        [
            ("reconciled from usage", len(report.reconciled)),
            ("expired without usage", len(report.expired)),
            ("grants expired", len(report.grants_expired)),
            (
                "credits expired",
                format_credits(sum(t.amount for t in report.grants_expired)),
            ),
            ("skipped (resolved meanwhile)", len(report.skipped)),
        ]
    )


@app.command("allocate")
def allocate(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="SIGNALS",
            help="CSV or JSON of criticality signals per asset (columns: org, asset, "
            "created_since, updated_since, contributor_count, ...; see docs/credits.md).",
        ),
    ],
    pool: Pool,
    budget: Annotated[str, _opt("--budget", "Credits to split, e.g. 10000.")],
    window: Annotated[
        str, _opt("--window", "Look-back for credits already received, e.g. 365d.")
    ] = "365d",
    min_score: Annotated[
        float, _opt("--min-score", "Leave out organisations below this criticality (0-1).")
    ] = 0.0,
    max_share: Annotated[
        int, _opt("--max-share", "Most any one organisation gets, in percent of the budget.")
    ] = 100,
    expires: Annotated[
        str | None,
        _opt("--expires", "With --apply: the grants expire after this long, e.g. 365d."),
    ] = None,
    apply: Annotated[
        bool, _opt("--apply", "Grant the proposal (asks for confirmation unless --yes).")
    ] = False,
    yes: Annotated[bool, _opt("--yes", "With --apply: do not ask.")] = False,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Rank maintainer organisations by the OpenSSF Criticality Score of their assets and
    what they already receive; propose a split of BUDGET. Grants nothing without --apply."""
    micro = _amount(budget)
    life = _common.guarded(lambda: parse_duration(expires)) if expires else None
    look_back = _common.guarded(lambda: parse_duration(window))
    fmt = "json" if path.suffix.lower() == ".json" else "csv"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _common.fail(LedgerInputError(f"cannot read {path}: {exc}"))
    assets = _common.guarded(lambda: parse_assets(text, fmt=fmt))
    with _credits(as_) as (_rt, service, actor):
        proposal = _common.guarded(
            lambda: service.propose_allocation(
                actor,
                assets,
                pool=pool,
                budget=micro,
                window=look_back,
                min_score=min_score,
                max_share_percent=max_share,
            )
        )
        if not as_json:
            _show_proposal(proposal)
        granted: list[Transfer] = []
        if apply:
            if not yes and not typer.confirm(
                f"Grant {format_credits(micro - proposal.unallocated)} credits from pool "
                f"{proposal.pool} as proposed?",
                default=False,
            ):
                _common.err.print("Nothing granted.")
                raise typer.Exit(1)
            granted = _common.guarded(
                lambda: service.apply_allocation(actor, proposal, expires_in=life)
            )
    if as_json:
        _common.emit_json(
            {
                "digest": proposal.digest,
                "proposal": proposal,
                "granted": [_transfer_record(t) for t in granted],
            }
        )
        return
    if apply:
        _common.out.print(
            f"Granted {len(granted)} allocation(s) (proposal {proposal.digest[:16]})."
        )
    else:
        _common.out.print("Proposal only: nothing granted. Re-run with --apply to grant it.")


def _show_proposal(p: Proposal) -> None:
    _common.table(
        "rank",
        "organisation",
        "criticality",
        "received",
        "weight",
        "proposed",
        "top asset",
        keep=("organisation",),
        rows=(
            (
                rank,
                c.org_name,
                f"{c.criticality:.3f}",
                format_credits(c.received),
                f"{c.weight:.4f}",
                format_credits(c.amount),
                c.assets[0][0] if c.assets else "-",
            )
            for rank, c in enumerate(p.candidates, 1)
        ),
    )
    for name, why in p.excluded:
        _common.out.print(f"left out: {name}: {why}", markup=False)
    if p.unallocated:
        _common.out.print(
            f"unallocated (every candidate at the cap): {format_credits(p.unallocated)}"
        )


__all__ = ["app"]
