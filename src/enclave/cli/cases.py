"""`enclave cases`: coordinate disclosure cases; `enclave advisories`: export published ones.

`cases remind` is the deadline scheduler: run it from cron (e.g. hourly); it raises each
reminder window (disclosure.reminder_days) once per case and records it on the timeline.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from enclave.cli import _common
from enclave.cli.findings import disclosure, opt
from enclave.disclosure import Case, CaseState, DisclosureInputError, VendorStatus
from enclave.disclosure import views as shapes

app = typer.Typer(help="List, notify, extend and publish disclosure cases.", no_args_is_help=True)
advisories_app = typer.Typer(help="Export published advisories.", no_args_is_help=True)

CaseArg = Annotated[str, typer.Argument(help="Case id.")]


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise DisclosureInputError(
            f"not an ISO 8601 date-time: {text!r}", hint="e.g. 2027-02-01T09:00:00+01:00"
        ) from None


def _print_case(body: dict[str, object], as_json: bool) -> None:
    if as_json:
        _common.emit_json(body)
        return
    _common.fields((k, v) for k, v in body.items() if not isinstance(v, list))


@app.command("list")
def list_(
    state: Annotated[CaseState | None, opt("CASES", "--state", "Only cases in this state.")] = None,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """List cases with their state and deadline."""
    with disclosure() as (service, actor):
        found = _common.guarded(lambda: service.list_cases(actor(acting_as), state=state))
    if as_json:
        _common.emit_json([shapes.case(c) for c in found])
        return
    _common.table(
        "id",
        "state",
        "product",
        "deadline",
        "title",
        rows=[(c.id, c.state.value, c.product, _common.when(c.deadline), c.title) for c in found],
    )


@app.command("show")
def show(
    case_id: CaseArg,
    details: Annotated[
        bool, opt("CASES", "--details", "Include descriptions and PoCs (admin; recorded).")
    ] = False,
    timeline: Annotated[bool, opt("CASES", "--timeline", "Include every recorded action.")] = False,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """A case: participants, per-maintainer status, deadline; optionally details, timeline."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        if details:
            body = shapes.details(_common.guarded(lambda: service.details(who, case_id)))
        else:
            body = shapes.overview(_common.guarded(lambda: service.overview(who, case_id)))
        if timeline:
            events = _common.guarded(lambda: service.timeline(who, case_id))
            body["timeline"] = [shapes.event(e) for e in events]
    if as_json:
        _common.emit_json(body)
        return
    _print_case(body, False)
    for name in ("participants", "statuses", "findings", "timeline"):
        items = body.get(name)
        if isinstance(items, list) and items:
            _common.out.print(f"\n{name}:")
            for item in items:
                _common.out.print("  " + json.dumps(item, sort_keys=True))


@app.command("notify")
def notify(
    case_id: CaseArg,
    maintainer: Annotated[
        str | None, opt("CASES", "--maintainer", "Add this maintainer first (name).")
    ] = None,
    email: Annotated[str | None, opt("CASES", "--email", "The maintainer's e-mail.")] = None,
    webhook: Annotated[
        str | None, opt("CASES", "--webhook", "The maintainer's webhook URL.")
    ] = None,
    webhook_secret: Annotated[
        str | None, opt("CASES", "--webhook-secret", "Shared HMAC secret (encrypted at rest).")
    ] = None,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Send every maintainer their private link (e-mail, webhook); starts the deadline."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        if maintainer is not None:
            _common.guarded(
                lambda: service.add_vendor(
                    who,
                    case_id,
                    name=maintainer,
                    email=email,
                    webhook_url=webhook,
                    webhook_secret=webhook_secret,
                )
            )
        links = _common.guarded(lambda: asyncio.run(service.notify(who, case_id)))
    if as_json:
        _common.emit_json([shapes.link(k) for k in links])
        return
    for link in links:
        _common.out.print(
            f"notified {link.participant.name} (link valid until {_common.when(link.expires_at)})"
        )


@app.command("extend")
def extend(
    case_id: CaseArg,
    reason: Annotated[str, opt("CASES", "--reason", "Why (recorded).")],
    grace: Annotated[bool, opt("CASES", "--grace", "Grant the policy's grace period.")] = False,
    until: Annotated[
        str | None, opt("CASES", "--until", "New deadline, ISO 8601 with a time zone.")
    ] = None,
    exploited: Annotated[
        bool, opt("CASES", "--exploited", "Exploited in the wild: the short deadline.")
    ] = False,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Change a case's deadline; the change and its reason go on the timeline."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        when = _common.guarded(lambda: _date(until)) if until else None
        case = _common.guarded(
            lambda: service.extend(
                who, case_id, reason=reason, grace=grace, until=when, exploited=exploited
            )
        )
    _print_case(shapes.case(case), as_json)


@app.command("status")
def status(
    case_id: CaseArg,
    participant: Annotated[str, opt("CASES", "--participant", "Maintainer participant id.")],
    value: Annotated[VendorStatus, opt("CASES", "--status", "unknown|affected|not-affected|fixed")],
    finding: Annotated[
        str | None, opt("CASES", "--finding", "Only this finding. [default: all]")
    ] = None,
    fixed_version: Annotated[
        str | None, opt("CASES", "--fixed-version", "The fixing release (with fixed).")
    ] = None,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Record a maintainer's status for the case's findings."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        case = _common.guarded(
            lambda: service.set_status(
                who, case_id, participant, value, finding_id=finding, fixed_version=fixed_version
            )
        )
    _print_case(shapes.case(case), as_json)


@app.command("close")
def close(
    case_id: CaseArg,
    state: Annotated[CaseState, opt("CASES", "--state", "duplicate|invalid|withdrawn")],
    reason: Annotated[str, opt("CASES", "--reason", "Why (recorded).")],
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Close a case without disclosure."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        case = _common.guarded(lambda: service.close(who, case_id, state, reason=reason))
    _print_case(shapes.case(case), as_json)


@app.command("publish")
def publish(
    case_id: CaseArg,
    early: Annotated[
        str | None,
        opt("CASES", "--early", "Publish before the deadline (all fixed), with this reason."),
    ] = None,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Disclose a case at its deadline: OSV and CSAF built, validated and stored."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        case = _common.guarded(lambda: service.publish(who, case_id, early_reason=early))
    _print_case(shapes.case(case), as_json)


@app.command("remind")
def remind(
    publish_due: Annotated[
        bool, opt("CASES", "--publish-due", "Also publish every case whose deadline passed.")
    ] = False,
    acting_as: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """The scheduler: raise due deadline reminders once per window (run from cron) and,
    with --publish-due, disclose the cases that reached their date."""
    published: list[Case] = []
    with disclosure() as (service, actor):
        raised = _common.guarded(service.remind)
        if publish_due:
            who = actor(acting_as)
            # Each publication is its own transaction: one that fails stops the run and
            # leaves the ones before it published.
            published = _common.guarded(
                lambda: [service.publish(who, c.id) for c in service.due(who)]
            )
    if as_json:
        _common.emit_json({"reminders": raised, "published": [shapes.case(c) for c in published]})
        return
    for item in raised:
        _common.out.print(
            f"case {item.case_id}: deadline {_common.when(item.deadline)} within {item.days} days"
        )
    for case in published:
        _common.out.print(f"case {case.id}: published")


@advisories_app.command("export")
def export(
    case_id: CaseArg,
    fmt: Annotated[str, opt("ADVISORIES", "--format", "osv or csaf.")] = "osv",
    out: Annotated[Path | None, opt("ADVISORIES", "--out", "Write to this file.")] = None,
    acting_as: _common.ActingOperator = None,
) -> None:
    """Print (or write) the validated OSV record or CSAF document of a disclosed case."""
    with disclosure() as (service, actor):
        who = actor(acting_as)
        doc = _common.guarded(lambda: service.export(who, case_id, fmt))
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


__all__ = ["advisories_app", "app"]
