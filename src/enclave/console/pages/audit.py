"""The audit log: the latest signed checkpoint and the log's public key, a button that
verifies the whole log, and proof lookups (inclusion by leaf index or event id,
consistency between two tree sizes), each checked with the log's public key.

Reads only, through ``AuditLog`` (console/audit_views.py), the service behind `enclave
audit` and the public ``/log`` routes; the log itself is public, so every operator role
may use the page. Lookups are GET forms (a result is a link that can be shared); verify
is a POST with the session's CSRF token because it re-reads the whole log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from enclave.auditlog import SigningKeyError
from enclave.console.audit_views import AuditConsole, number
from enclave.console.framework import Posted, Who, extra, render

router = APIRouter()


def audit_console(request: Request) -> AuditConsole:
    return extra(request, "auditlog", AuditConsole, "the audit log")


def _page(request: Request, who: Who, audit: AuditConsole, **context: Any) -> HTMLResponse:
    base: dict[str, Any] = {
        "checkpoint": audit.latest(),
        "vkey": audit.vkey(),
        "report": None,
        "key_problem": None,
        "inclusion": None,
        "consistency": None,
        "query": {k: v for k, v in request.query_params.items() if k != "done"},
    }
    base.update(context)
    return render(request, "audit/index.html", who, **base)


@router.get("/audit", name="audit")
def audit_page(request: Request, who: Who) -> HTMLResponse:
    return _page(request, who, audit_console(request))


@router.post("/audit/verify", name="audit_verify")
def audit_verify(request: Request, form: Posted) -> HTMLResponse:
    audit = audit_console(request)
    try:
        report = audit.verify()
    except SigningKeyError as exc:
        return _page(request, form.who, audit, key_problem=exc.message)
    return _page(request, form.who, audit, report=report)


@router.get("/audit/inclusion", name="audit_inclusion")
def audit_inclusion(request: Request, who: Who) -> HTMLResponse:
    audit = audit_console(request)
    params = request.query_params
    proof = audit.inclusion(
        index=number(params, "index"),
        seq=number(params, "seq"),
        tree_size=number(params, "tree_size"),
    )
    return _page(request, who, audit, inclusion=proof)


@router.get("/audit/consistency", name="audit_consistency")
def audit_consistency(request: Request, who: Who) -> HTMLResponse:
    audit = audit_console(request)
    params = request.query_params
    old = number(params, "old_size", required=True)
    assert old is not None
    proof = audit.consistency(old, number(params, "new_size"))
    return _page(request, who, audit, consistency=proof)


__all__ = ["audit_console", "router"]
