"""API keys: list, issue (the secret is shown once, on the response to the POST), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from enclave.console.framework import Posted, Who, console, redirect, render
from enclave.console.tables import Column, paginate, text_key
from enclave.registry import ApiKey, parse_duration

router = APIRouter()

KEY_COLUMNS: tuple[Column[ApiKey], ...] = (
    Column("prefix", "Prefix", lambda k: k.prefix),
    Column("org", "Organisation", lambda k: k.org_id),
    Column("name", "Name", lambda k: text_key(k.name)),
    Column("purposes", "Purposes"),
    Column("created", "Created", lambda k: k.created_at),
    Column("expires", "Expires", lambda k: (k.expires_at is None, k.expires_at or k.created_at)),
    Column("state", "State"),
    Column("revoke", "Revoke"),
)


@router.get("/keys", name="keys")
def keys(request: Request, who: Who) -> HTMLResponse:
    c = console(request)
    org = request.query_params.get("org") or None
    rows = c.registry.list_keys(who.operator, org_ref=org)
    view = paginate(
        rows, request.query_params, KEY_COLUMNS, default_sort="created", default_desc=True
    )
    orgs = {o.id: o for o in c.registry.list_orgs(who.operator)}
    return render(
        request, "keys/list.html", who, view=view, orgs=orgs, org=org or "", now=c.registry.now()
    )


@router.get("/keys/new", name="new_key")
def new_key(request: Request, who: Who) -> HTMLResponse:
    c = console(request)
    now = c.registry.now()
    active = [o for o in c.registry.list_orgs(who.operator, status="approved") if o.is_active(now)]
    return render(
        request,
        "keys/new.html",
        who,
        orgs=active,
        org_options=[(o.id, o.name) for o in sorted(active, key=lambda o: o.name.casefold())],
        purposes=c.settings.purposes,
        selected=request.query_params.get("org", ""),
    )


@router.post("/keys", name="issue_key")
def issue_key(request: Request, form: Posted) -> HTMLResponse:
    org = form.text("org", limit=200)
    expiry = form.text("expires_in", required=False, limit=20)
    issued = console(request).registry.issue_key(
        form.actor,
        org,
        purposes=form.texts("purpose"),
        name=form.text("name", required=False, limit=200),
        expires_in=parse_duration(expiry) if expiry else None,
    )
    # Rendered on the POST's response, not after a redirect: the secret exists only in
    # this response (every console page is Cache-Control: no-store).
    return render(request, "keys/issued.html", form.who, issued=issued)


@router.post("/keys/{key_id}/revoke", name="revoke_key")
def revoke_key(request: Request, form: Posted, key_id: str) -> RedirectResponse:
    reason = form.text("reason")
    form.require_confirmed()
    revoked = console(request).registry.revoke_key(form.actor, key_id, reason=reason)
    return redirect("/keys", done="key-revoked", org=revoked.org_id)


__all__ = ["router"]
