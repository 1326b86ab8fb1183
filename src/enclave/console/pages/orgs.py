"""Organisations and the vetting queue (four-eyes: RegistryService.decide counts the
distinct operators who approved; the tier says how many it takes), and whether an
organisation is named in public transparency reports (docs/transparency.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from enclave.console.framework import Posted, Who, console, redirect, render
from enclave.console.tables import Column, paginate, text_key
from enclave.registry import Application, Organisation, OrgStatus, Role

router = APIRouter()

ORG_COLUMNS: tuple[Column[Organisation], ...] = (
    Column("name", "Name", lambda o: text_key(o.name)),
    Column("kind", "Kind", lambda o: o.kind.value),
    Column("tier", "Tier", lambda o: o.tier),
    Column("status", "Status", lambda o: o.status.value),
    Column("created", "Created", lambda o: o.created_at),
    Column(
        "expires",
        "Approval expires",
        lambda o: (o.approval_expires_at is None, o.approval_expires_at or o.created_at),
    ),
)

QUEUE_COLUMNS: tuple[Column[Application], ...] = (
    Column("submitted", "Submitted", lambda a: a.submitted_at),
    Column("org", "Organisation"),
    Column("tier", "Tier", lambda a: a.tier),
    Column("approvals", "Approvals", lambda a: sum(d.decision == "approve" for d in a.decisions)),
    Column("evidence", "Evidence"),
    Column("decide", "Decide"),
)

STATUSES = (("", "any status"), *((s.value, s.value) for s in OrgStatus))


@router.get("/orgs", name="orgs")
def orgs(request: Request, who: Who) -> HTMLResponse:
    status = request.query_params.get("status") or None
    rows = console(request).registry.list_orgs(who.operator, status=status)
    view = paginate(rows, request.query_params, ORG_COLUMNS, default_sort="name")
    return render(request, "orgs/list.html", who, view=view, status=status or "", statuses=STATUSES)


@router.get("/orgs/{org_id}", name="org")
def org(request: Request, who: Who, org_id: str) -> HTMLResponse:
    c = console(request)
    found, applications = c.registry.get_org(who.operator, org_id)
    keys = c.registry.list_keys(who.operator, org_ref=found.id)
    names = {op.id: op.name for op in c.registry.list_operators(who.operator)}
    return render(
        request,
        "orgs/detail.html",
        who,
        org=found,
        applications=sorted(applications, key=lambda a: a.submitted_at, reverse=True),
        keys=keys,
        names=names,
        now=c.registry.now(),
        can_name=Role.ADMIN in who.operator.roles,
    )


@router.post("/orgs/{org_id}/report-opt-in", name="org_report_opt_in")
def report_opt_in(request: Request, form: Posted, org_id: str) -> RedirectResponse:
    """Name the organisation in public transparency reports, or stop (admin; the
    registry checks the role and records ``org.report_opt_in``). Confirmed: a report
    published while it is on names it for good."""
    named = form.choice("named", ("on", "off")) == "on"
    form.require_confirmed()
    changed = console(request).registry.set_report_opt_in(form.actor, org_id, opt_in=named)
    return redirect(f"/orgs/{changed.id}", done="report-opt-in" if named else "report-opt-out")


@router.get("/vetting", name="vetting")
def vetting(request: Request, who: Who) -> HTMLResponse:
    c = console(request)
    pending = c.registry.list_applications(who.operator, status="pending")
    view = paginate(pending, request.query_params, QUEUE_COLUMNS, default_sort="submitted")
    orgs_by_id = {o.id: o for o in c.registry.list_orgs(who.operator)}
    names = {op.id: op.name for op in c.registry.list_operators(who.operator)}
    needed = {name: tier.approvals_required for name, tier in c.settings.tiers.items()}
    return render(
        request,
        "orgs/vetting.html",
        who,
        view=view,
        orgs=orgs_by_id,
        names=names,
        needed=needed,
    )


@router.post("/vetting/{app_id}/decide", name="decide")
def decide(request: Request, form: Posted, app_id: str) -> RedirectResponse:
    decision = form.choice("decision", ("approve", "reject"))
    reason = form.text("reason")
    if decision == "reject":
        form.require_confirmed()
    _, changed = console(request).registry.decide(
        form.actor,
        app_id,
        decision="approve" if decision == "approve" else "reject",
        reason=reason,
    )
    return redirect(f"/orgs/{changed.id}", done="decided")


__all__ = ["router"]
