"""`enclave org`: register, vet and change the status of organisations.

Vetting is four-eyes for the partner and maintainer tiers: `approve` records one
operator's decision, and the organisation becomes `approved` only when the tier's count
of distinct operators have approved (`approvals_required` in the tier table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from enclave.cli import _common
from enclave.errors import Conflict, InputError
from enclave.registry import Application, ApplicationStatus, Decision, Evidence, Organisation

app = typer.Typer(
    help="Register, vet, suspend and revoke organisations.",
    no_args_is_help=True,
)

OrgRef = Annotated[str, typer.Argument(metavar="ORG", help="Organisation name or id.")]
Reason = Annotated[
    str,
    typer.Option(
        "--reason", envvar="ENCLAVE_CLI_ORG_REASON", help="Why (recorded with the change)."
    ),
]
EvidenceText = Annotated[
    str,
    typer.Option(
        "--evidence", envvar="ENCLAVE_CLI_ORG_EVIDENCE", help="Evidence for vetting (free text)."
    ),
]
Links = Annotated[
    list[str] | None,
    typer.Option(
        "--link",
        envvar="ENCLAVE_CLI_ORG_LINK",
        help="Evidence URL (repeatable; env: space-separated).",
    ),
]
Attachments = Annotated[
    list[str] | None,
    typer.Option(
        "--attachment",
        envvar="ENCLAVE_CLI_ORG_ATTACHMENT",
        metavar="NAME=sha256:HEX",
        help="An attached document, by name and hash (repeatable).",
    ),
]


def _evidence(text: str, links: list[str] | None, attachments: list[str] | None) -> Evidence:
    pairs: list[tuple[str, str]] = []
    for item in attachments or ():
        name, sep, digest = item.rpartition("=")
        if not sep:
            raise InputError(
                f"attachment {item!r}: expected NAME=sha256:HEX",
                hint="hash a file with `sha256sum FILE`",
            )
        pairs.append((name.strip(), digest.strip()))
    return Evidence(text=text, links=tuple(links or ()), attachments=tuple(pairs))


def _print_org(
    org: Organisation,
    applications: list[Application] | None = None,
    operators: Mapping[str, str] | None = None,
) -> None:
    _common.fields(
        [
            ("id", org.id),
            ("name", org.name),
            ("kind", org.kind.value),
            ("tier", org.tier),
            ("status", org.status.value),
            ("sector", org.sector or "-"),
            ("contact", org.contact or "-"),
            ("created", _common.when(org.created_at)),
            ("approved", _common.when(org.approved_at)),
            ("approval expires", _common.when(org.approval_expires_at)),
        ]
    )
    if applications:
        _common.out.print()
        _print_applications(applications, operators or {})


def _print_applications(applications: list[Application], operators: Mapping[str, str]) -> None:
    _common.table(
        "application",
        "tier",
        "status",
        "submitted",
        "decisions (operator: decision, reason)",
        title="Applications",
        keep=("application",),
        rows=(
            (
                a.id,
                a.tier,
                a.status.value,
                _common.when(a.submitted_at),
                "\n".join(
                    f"{operators.get(d.operator_id, d.operator_id)}: {d.decision}, {d.reason}"
                    for d in a.decisions
                )
                or "-",
            )
            for a in applications
        ),
    )


@app.command("create")
def create(
    name: Annotated[
        str, typer.Option("--name", envvar="ENCLAVE_CLI_ORG_NAME", help="Organisation name.")
    ],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            envvar="ENCLAVE_CLI_ORG_KIND",
            help="partner, maintainer, public or operator.",
        ),
    ],
    tier: Annotated[
        str,
        typer.Option("--tier", envvar="ENCLAVE_CLI_ORG_TIER", help="Tier applied for."),
    ],
    sector: Annotated[
        str, typer.Option("--sector", envvar="ENCLAVE_CLI_ORG_SECTOR", help="Sector.")
    ] = "",
    contact: Annotated[
        str,
        typer.Option("--contact", envvar="ENCLAVE_CLI_ORG_CONTACT", help="Security contact."),
    ] = "",
    evidence: EvidenceText = "",
    link: Links = None,
    attachment: Attachments = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Register an organisation with its first application (status `applied`)."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        org, application = _common.guarded(
            lambda: rt.registry.create_org(
                actor,
                name=name,
                kind=kind,
                tier=tier,
                sector=sector,
                contact=contact,
                evidence=_evidence(evidence, link, attachment),
            )
        )
    if as_json:
        _common.emit_json({"organisation": org, "application": application})
        return
    _print_org(org, [application])
    _common.out.print(f"\nNext: `enclave org approve {org.name}` (tier {org.tier})", markup=False)


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            envvar="ENCLAVE_CLI_ORG_STATUS",
            help="Only this status (applied, under_review, approved, suspended, revoked, "
            "rejected).",
        ),
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """List organisations."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        orgs = _common.guarded(lambda: rt.registry.list_orgs(actor, status=status))
    if as_json:
        _common.emit_json(orgs)
        return
    _common.table(
        "name",
        "id",
        "kind",
        "tier",
        "status",
        "approval expires",
        rows=(
            (
                o.name,
                o.id,
                o.kind.value,
                o.tier,
                o.status.value,
                _common.when(o.approval_expires_at),
            )
            for o in orgs
        ),
    )


@app.command("show")
def show(
    org: OrgRef,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Show an organisation with its applications and their decisions."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        found, applications = _common.guarded(lambda: rt.registry.get_org(actor, org))
        staff = _common.guarded(lambda: rt.registry.list_operators(actor))
        operators: dict[str, str] = {o.id: o.name for o in staff}
    if as_json:
        _common.emit_json({"organisation": found, "applications": applications})
        return
    _print_org(found, applications, operators)


def _decide(org: str, decision: Decision, reason: str, as_: str | None, as_json: bool) -> None:
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)

        def run() -> tuple[Application, Organisation]:
            found, applications = rt.registry.get_org(actor, org)
            pending = [a for a in applications if a.status is ApplicationStatus.PENDING]
            if not pending:
                raise Conflict(
                    f"organisation {found.name} has no pending application",
                    hint="renewals and tier changes start with `enclave org apply`",
                )
            return rt.registry.decide(actor, pending[0].id, decision=decision, reason=reason)

        application, updated = _common.guarded(run)
    if as_json:
        _common.emit_json({"organisation": updated, "application": application})
        return
    needed = rt.settings.tier(application.tier).approvals_required
    approvals = sum(1 for d in application.decisions if d.decision == "approve")
    _common.out.print(
        f"{actor.name} {decision}d the application of {updated.name} "
        f"(tier {application.tier}): {approvals} of {needed} approvals; "
        f"organisation is now {updated.status.value}",
        markup=False,
    )
    if application.status is ApplicationStatus.PENDING:
        _common.out.print(
            "Four-eyes: the next approval must come from a different operator (--as NAME).",
            markup=False,
        )


@app.command("approve")
def approve(
    org: OrgRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Approve the pending application (one operator's vote; four-eyes tiers need two)."""
    _decide(org, "approve", reason, as_, as_json)


@app.command("reject")
def reject(
    org: OrgRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Reject the pending application."""
    _decide(org, "reject", reason, as_, as_json)


def _set_status(org: str, status: str, reason: str, as_: str | None, as_json: bool) -> None:
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        updated = _common.guarded(lambda: rt.registry.set_status(actor, org, status, reason=reason))
    if as_json:
        _common.emit_json(updated)
        return
    _common.out.print(
        f"{updated.name} is now {updated.status.value} (by {actor.name})", markup=False
    )


@app.command("suspend")
def suspend(
    org: OrgRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Suspend an approved organisation: its keys stop working on the next request."""
    _set_status(org, "suspended", reason, as_, as_json)


@app.command("reinstate")
def reinstate(
    org: OrgRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Reinstate a suspended organisation (admin only)."""
    _set_status(org, "approved", reason, as_, as_json)


@app.command("revoke")
def revoke(
    org: OrgRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Revoke an organisation for good: its keys stop working, no application reopens it."""
    _set_status(org, "revoked", reason, as_, as_json)


@app.command("report-opt-in")
def report_opt_in(
    org: OrgRef,
    on: Annotated[
        bool,
        typer.Option(
            "--on/--off",
            envvar="ENCLAVE_CLI_ORG_REPORT_OPT_IN",
            help="Name the organisation in public transparency reports, or stop naming it.",
        ),
    ],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Whether the public transparency report names the organisation (with its requests
    and credits spent); otherwise it appears there only inside counts. Admin only."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        updated = _common.guarded(lambda: rt.registry.set_report_opt_in(actor, org, opt_in=on))
    if as_json:
        _common.emit_json(updated)
        return
    state = "named in" if updated.report_opt_in else "not named in"
    _common.out.print(f"{updated.name} is {state} transparency reports", markup=False)


@app.command("apply")
def apply(
    org: OrgRef,
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            envvar="ENCLAVE_CLI_ORG_TIER",
            help="Tier applied for. [default: the current tier]",
            show_default=False,
        ),
    ] = None,
    evidence: EvidenceText = "",
    link: Links = None,
    attachment: Attachments = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Submit a renewal or a change of tier; it is vetted like the first application."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)

        def run() -> Application:
            found, _ = rt.registry.get_org(actor, org)
            return rt.registry.submit_application(
                actor,
                found.id,
                tier=tier or found.tier,
                evidence=_evidence(evidence, link, attachment),
            )

        application = _common.guarded(run)
    if as_json:
        _common.emit_json(application)
        return
    _print_applications([application], {})


__all__ = ["app"]
