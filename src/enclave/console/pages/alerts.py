"""Alerts triage: list, read the evidence, acknowledge, resolve (the monitor service)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from enclave.console.framework import Posted, Who, console, redirect, render
from enclave.console.tables import Column, enum_filter, paginate
from enclave.monitor import Alert, AlertStatus

router = APIRouter()

ALERT_COLUMNS: tuple[Column[Alert], ...] = (
    Column("created", "When", lambda a: a.created_at),
    Column("category", "Category", lambda a: a.category.value),
    Column("title", "Rule", lambda a: a.title.casefold()),
    Column("severity", "Severity", lambda a: a.severity.rank),
    Column("action", "Action", lambda a: a.action.value),
    Column("session", "Session", lambda a: a.session_id),
    Column("status", "Status", lambda a: a.status.value),
)

STATUSES = (("", "any status"), *((s.value, s.value) for s in AlertStatus))


@router.get("/alerts", name="alerts")
def alerts(request: Request, who: Who) -> HTMLResponse:
    status = enum_filter(request.query_params.get("status"), AlertStatus, "alert status")
    rows = console(request).monitor.list_alerts(who.operator, status=status, limit=1000)
    view = paginate(
        rows, request.query_params, ALERT_COLUMNS, default_sort="created", default_desc=True
    )
    return render(
        request,
        "alerts/list.html",
        who,
        view=view,
        status=status.value if status else "",
        statuses=STATUSES,
    )


@router.get("/alerts/{alert_id}", name="alert")
def alert(request: Request, who: Who, alert_id: str) -> HTMLResponse:
    found = console(request).monitor.get_alert(who.operator, alert_id)
    evidence = json.dumps(found.evidence, indent=2, sort_keys=True, ensure_ascii=False)
    return render(request, "alerts/detail.html", who, alert=found, evidence=evidence)


@router.post("/alerts/{alert_id}/ack", name="ack_alert")
def ack(request: Request, form: Posted, alert_id: str) -> RedirectResponse:
    note = form.text("note", required=False)
    console(request).monitor.ack_alert(form.actor, alert_id, note=note)
    return redirect(f"/alerts/{alert_id}", done="alert-acked")


@router.post("/alerts/{alert_id}/resolve", name="resolve_alert")
def resolve(request: Request, form: Posted, alert_id: str) -> RedirectResponse:
    resolution = form.text("resolution")
    console(request).monitor.resolve_alert(form.actor, alert_id, resolution=resolution)
    return redirect(f"/alerts/{alert_id}", done="alert-resolved")


__all__ = ["router"]
