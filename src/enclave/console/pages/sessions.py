"""Live sessions: their events, alerts and held calls; hold, release, terminate (the
monitor service, with the signed-in operator as the actor)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from enclave.console.framework import Posted, Who, console, redirect, render
from enclave.console.tables import Column, enum_filter, paginate
from enclave.monitor import Session, SessionStatus

router = APIRouter()

SESSION_COLUMNS: tuple[Column[Session], ...] = (
    Column("session", "Session", lambda s: s.client_session_id),
    Column("org", "Organisation", lambda s: s.org_id),
    Column("purpose", "Purpose", lambda s: s.purpose),
    Column("status", "Status", lambda s: s.status.value),
    Column("events", "Events", lambda s: s.events),
    Column("alerts", "Alerts", lambda s: s.alerts),
    Column("updated", "Last activity", lambda s: s.updated_at),
)

STATUSES = (("", "any status"), *((s.value, s.value) for s in SessionStatus))
EVENT_LIMIT = 1000


@router.get("/sessions", name="sessions")
def sessions(request: Request, who: Who) -> HTMLResponse:
    c = console(request)
    status = enum_filter(request.query_params.get("status"), SessionStatus, "session status")
    rows = c.monitor.list_sessions(who.operator, status=status, limit=1000)
    view = paginate(
        rows, request.query_params, SESSION_COLUMNS, default_sort="updated", default_desc=True
    )
    orgs = {o.id: o.name for o in c.registry.list_orgs(who.operator)}
    return render(
        request,
        "sessions/list.html",
        who,
        view=view,
        orgs=orgs,
        status=status.value if status else "",
        statuses=STATUSES,
    )


@router.get("/sessions/{session_id}", name="session")
def session(request: Request, who: Who, session_id: str) -> HTMLResponse:
    c = console(request)
    found, held, alerts = c.monitor.get_session(who.operator, session_id)
    events = c.registry.list_events(who.operator, subject=found.id, limit=EVENT_LIMIT)
    orgs: dict[str, str] = {o.id: o.name for o in c.registry.list_orgs(who.operator)}
    return render(
        request,
        "sessions/detail.html",
        who,
        session=found,
        held=held,
        alerts=sorted(alerts, key=lambda a: a.created_at, reverse=True),
        events=events,
        event_limit=EVENT_LIMIT,
        org_name=orgs.get(found.org_id, found.org_id),
    )


@router.post("/sessions/{session_id}/hold", name="hold_session")
def hold(request: Request, form: Posted, session_id: str) -> RedirectResponse:
    reason = form.text("reason", required=False)
    form.require_confirmed()
    console(request).monitor.hold_session(form.actor, session_id, reason=reason)
    return redirect(f"/sessions/{session_id}", done="session-held")


@router.post("/sessions/{session_id}/release", name="release_session")
def release(request: Request, form: Posted, session_id: str) -> RedirectResponse:
    reason = form.text("reason", required=False)
    reject = form.flag("reject_held")
    if reject:
        form.require_confirmed()
    console(request).monitor.release_session(form.actor, session_id, reject=reject, reason=reason)
    return redirect(f"/sessions/{session_id}", done="session-released")


@router.post("/sessions/{session_id}/terminate", name="terminate_session")
def terminate(request: Request, form: Posted, session_id: str) -> RedirectResponse:
    reason = form.text("reason", required=False)
    form.require_confirmed()
    console(request).monitor.terminate_session(form.actor, session_id, reason=reason)
    return redirect(f"/sessions/{session_id}", done="session-terminated")


__all__ = ["router"]
