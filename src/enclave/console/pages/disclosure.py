"""Disclosure: cases with their deadlines (overdue and coming-up ones highlighted), and one
case's findings, maintainers, statuses and timeline; two confirmed admin actions, grant
the grace period and close a case.

Everything goes through ``DisclosureService`` (console/disclosure_views.py), which checks
roles and writes the case's events. Embargoed text (descriptions, PoCs) is never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from enclave.console import disclosure_views as views
from enclave.console.framework import Form, Posted, Who, console, redirect, render
from enclave.console.tables import Column, paginate, text_key
from enclave.disclosure import CaseState, DisclosureService
from enclave.errors import ConfigError
from enclave.registry import Operator, Role

router = APIRouter()

_URGENCY = {
    views.DeadlineState.OVERDUE: 0,
    views.DeadlineState.SOON: 1,
    views.DeadlineState.RUNNING: 2,
    views.DeadlineState.NONE: 3,
    views.DeadlineState.CLOSED: 4,
}

CASE_COLUMNS: tuple[Column[views.CaseRow], ...] = (
    Column("id", "Case", lambda r: r.id),
    Column("title", "Title", lambda r: text_key(r.title)),
    Column("product", "Product", lambda r: text_key(r.product)),
    Column("state", "State", lambda r: r.state),
    Column("findings", "Findings", lambda r: r.findings),
    # Deadline order: the most urgent first, then by date (no deadline last).
    Column(
        "deadline",
        "Deadline",
        lambda r: (_URGENCY[r.deadline_state], r.deadline is None, r.deadline or r.created_at),
    ),
    Column("opened", "Opened", lambda r: r.created_at),
)


def disclosure_service(request: Request) -> DisclosureService:
    found = console(request).extra.get("disclosure")
    # The composition root passes the gateway's DisclosureProvider: a callable that
    # builds the service on first use (a state directory without the data key still
    # serves every other page).
    service = found() if callable(found) else found
    if not isinstance(service, DisclosureService):
        raise ConfigError("this console was started without the disclosure service")
    return service


def _soon(request: Request) -> timedelta:
    return views.soon_window(console(request).settings.disclosure.reminder_days)


def _fields(form: Form) -> dict[str, str]:
    return {k: v for k, v in form.data.items() if isinstance(v, str)}


@router.get("/disclosure", name="disclosure")
def cases_page(request: Request, who: Who) -> HTMLResponse:
    service = disclosure_service(request)
    state = views.parse_state(request.query_params.get("state"))
    rows = views.cases(service, who.operator, now=service.now(), soon=_soon(request), state=state)
    table = paginate(rows, request.query_params, CASE_COLUMNS, default_sort="deadline")
    counts = {s.value: sum(r.deadline_state is s for r in rows) for s in views.DeadlineState}
    return render(
        request,
        "disclosure/index.html",
        who,
        table=table,
        counts=counts,
        state=state.value if state else "",
        state_options=[("", "any state"), *((s.value, s.value) for s in CaseState)],
    )


@router.get("/disclosure/{case_id}", name="disclosure_case")
def case_page(request: Request, who: Who, case_id: str) -> HTMLResponse:
    service = disclosure_service(request)
    detail = views.case_detail(
        service, who.operator, case_id, now=service.now(), soon=_soon(request)
    )
    return render(
        request,
        "disclosure/case.html",
        who,
        detail=detail,
        can_coordinate=Role.ADMIN in who.operator.roles,
        grace_days=console(request).settings.disclosure.grace_days,
        close_options=[("", "choose…"), *((s, s) for s in detail.close_states)],
    )


def _act(
    request: Request,
    form: Posted,
    case_id: str,
    action: Callable[[DisclosureService, Operator, str, dict[str, str]], object],
    done: str,
) -> RedirectResponse:
    form.require_confirmed()
    action(disclosure_service(request), form.actor, case_id, _fields(form))
    return redirect(f"/disclosure/{quote(case_id, safe='')}", done=done)


@router.post("/disclosure/{case_id}/grace", name="disclosure_grace")
def grace(request: Request, form: Posted, case_id: str) -> RedirectResponse:
    return _act(request, form, case_id, views.grant_grace, "case-grace")


@router.post("/disclosure/{case_id}/close", name="disclosure_close")
def close(request: Request, form: Posted, case_id: str) -> RedirectResponse:
    return _act(request, form, case_id, views.close_case, "case-closed")


__all__ = ["disclosure_service", "router"]
