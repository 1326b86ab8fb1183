"""The console's front page: what needs an operator now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from enclave.console.framework import Who, console, render
from enclave.monitor import AlertStatus, SessionStatus

router = APIRouter()


@router.get("/", name="home")
def home(request: Request, who: Who) -> HTMLResponse:
    c = console(request)
    actor = who.operator
    pending = c.registry.list_applications(actor, status="pending")
    open_alerts = c.monitor.list_alerts(actor, status=AlertStatus.OPEN, limit=1000)
    held = c.monitor.list_sessions(actor, status=SessionStatus.HELD, limit=1000)
    return render(
        request,
        "home.html",
        who,
        pending=len(pending),
        open_alerts=len(open_alerts),
        held=len(held),
    )


__all__ = ["router"]
