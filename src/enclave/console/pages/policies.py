"""Policies in force: the policy set (directory, digest, files, each policy's id, effect,
advice and place) and the subtraction table computed from it (console/policy_views.py,
the same computation as `enclave policy table` and ``GET /v1/enclave/tiers``).

Read-only; every operator role may see it (the tiers document is public anyway).
Editing and reloading stay with `enclave policy check` / `reload` (docs/policies.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from enclave.console.framework import Who, extra, render
from enclave.console.policy_views import PoliciesPage, PolicyRow, TableRow
from enclave.console.tables import Column, paginate, text_key

router = APIRouter()

POLICY_COLUMNS: tuple[Column[PolicyRow], ...] = (
    Column("id", "Policy id", lambda p: text_key(p.id)),
    Column("effect", "Effect", lambda p: p.effect),
    Column("advice", "Advice", lambda p: p.advice),
    Column("file", "Where", lambda p: (p.file, p.line)),
)

TABLE_COLUMNS: tuple[Column[TableRow], ...] = (
    Column("tier", "Tier", lambda r: r.order),
    Column("action", "Action", lambda r: (r.action, r.order)),
    Column("purposes", "Purposes"),
    Column("categories", "Risk categories"),
    Column("outcome", "Outcome by risk score", lambda r: (r.summary, r.order)),
)


def policies_page(request: Request) -> PoliciesPage:
    return extra(request, "policies", PoliciesPage, "the policy engine")


@router.get("/policies", name="policies")
def policies(request: Request, who: Who) -> HTMLResponse:
    view = policies_page(request).view()
    table = paginate(view.policies, request.query_params, POLICY_COLUMNS, default_sort="file")
    return render(request, "policies/index.html", who, view=view, table=table)


@router.get("/policies/table", name="policy_table")
def subtraction(request: Request, who: Who) -> HTMLResponse:
    view = policies_page(request).view()
    table = paginate(view.table, request.query_params, TABLE_COLUMNS, default_sort="tier")
    return render(request, "policies/table.html", who, view=view, table=table)


__all__ = ["policies_page", "router"]
