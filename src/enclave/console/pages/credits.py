"""Credits: balances per organisation, pools, grants, one organisation's statement, and
the two actions, fund a pool and grant to an organisation (admin, confirmed).

Every read and action goes through ``CreditsService`` (console/credits_views.py), the
service behind the admin API's ``/credits`` routes, which checks the role and records the
transfer's event. Each form carries a transfer id made when it was shown, so submitting
it twice moves credits once (docs/credits.md, "The id is the idempotency key").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from enclave.console import credits_views as views
from enclave.console.framework import Form, Posted, Who, console, extra, redirect, render
from enclave.console.tables import Column, paginate, text_key
from enclave.ledger import CreditsService, format_credits
from enclave.registry import Role

router = APIRouter()


def credits_service(request: Request) -> CreditsService:
    return extra(request, "credits", CreditsService, "the credits service")


def _fields(form: Form) -> dict[str, str]:
    return {k: v for k, v in form.data.items() if isinstance(v, str)}


ORG_COLUMNS: tuple[Column[views.OrgRow], ...] = (
    Column("name", "Organisation", lambda r: text_key(r.name)),
    Column("status", "Status", lambda r: r.status),
    Column("tier", "Tier", lambda r: r.tier),
    Column("available", "Available", lambda r: r.available),
    Column("reserved", "Reserved", lambda r: r.reserved),
    Column("granted", "Granted", lambda r: r.granted),
    Column("consumed", "Consumed", lambda r: r.consumed),
)

POOL_COLUMNS: tuple[Column[views.PoolRow], ...] = (
    Column("name", "Pool", lambda r: text_key(r.name)),
    Column("available", "Available", lambda r: r.available),
    Column("reserved", "Reserved", lambda r: r.reserved),
    Column("funded", "Funded", lambda r: r.funded),
    Column("granted", "Granted out", lambda r: r.granted),
)

GRANT_COLUMNS: tuple[Column[views.GrantRow], ...] = (
    Column("created", "Granted", lambda r: r.created_at),
    Column("org", "Organisation", lambda r: text_key(r.org_name)),
    Column("pool", "Pool", lambda r: text_key(r.pool)),
    Column("amount", "Amount", lambda r: r.amount),
    Column("expires", "Expires", lambda r: (r.expires_at is None, r.expires_at or r.created_at)),
    Column("expired", "Expired", lambda r: r.expired_amount or 0),
    Column("memo", "Memo"),
)

TRANSFER_COLUMNS: tuple[Column[views.TransferRow], ...] = (
    Column("seq", "#", lambda r: r.seq),
    Column("at", "When", lambda r: r.created_at),
    Column("code", "What", lambda r: r.code),
    Column("phase", "Phase", lambda r: r.phase),
    Column("debit", "From", lambda r: r.debit),
    Column("credit", "To", lambda r: r.credit),
    Column("amount", "Amount", lambda r: r.amount),
    Column("actor", "By", lambda r: r.actor),
)


def _forms(request: Request, who: Who) -> dict[str, Any]:
    """What the fund and grant forms need (shown to admins only; the service refuses
    everyone else anyway)."""
    return {
        "can_move": Role.ADMIN in who.operator.roles,
        "fund_id": views.fresh_transfer_id("fund"),
        "grant_id": views.fresh_transfer_id("grant"),
        "credits": format_credits,
    }


def _overview(request: Request, who: Who) -> views.CreditsOverview:
    service = credits_service(request)
    return views.overview(service, who.operator, now=console(request).registry.now())


@router.get("/credits", name="credits")
def credits_home(request: Request, who: Who) -> HTMLResponse:
    data = _overview(request, who)
    table = paginate(data.orgs, request.query_params, ORG_COLUMNS, default_sort="name")
    return render(
        request,
        "credits/index.html",
        who,
        data=data,
        table=table,
        **_forms(request, who),
    )


@router.get("/credits/pools", name="credit_pools")
def credits_pools(request: Request, who: Who) -> HTMLResponse:
    data = _overview(request, who)
    table = paginate(data.pools, request.query_params, POOL_COLUMNS, default_sort="name")
    return render(
        request, "credits/pools.html", who, data=data, table=table, **_forms(request, who)
    )


@router.get("/credits/grants", name="credit_grants")
def credits_grants(request: Request, who: Who) -> HTMLResponse:
    data = _overview(request, who)
    table = paginate(
        data.grants, request.query_params, GRANT_COLUMNS, default_sort="created", default_desc=True
    )
    return render(
        request, "credits/grants.html", who, data=data, table=table, **_forms(request, who)
    )


@router.get("/credits/orgs/{org}", name="credit_org")
def credits_org(request: Request, who: Who, org: str) -> HTMLResponse:
    service = credits_service(request)
    data = views.org_credits(service, who.operator, org)
    table = paginate(
        data.history, request.query_params, TRANSFER_COLUMNS, default_sort="seq", default_desc=True
    )
    return render(request, "credits/org.html", who, data=data, table=table, credits=format_credits)


@router.post("/credits/fund", name="credits_fund")
def credits_fund(request: Request, form: Posted) -> RedirectResponse:
    form.require_confirmed()
    views.fund(credits_service(request), form.actor, _fields(form))
    return redirect("/credits/pools", done="credits-funded")


@router.post("/credits/grant", name="credits_grant")
def credits_grant(request: Request, form: Posted) -> RedirectResponse:
    form.require_confirmed()
    views.grant(credits_service(request), form.actor, _fields(form))
    return redirect("/credits/grants", done="credits-granted")


__all__ = ["credits_service", "router"]
