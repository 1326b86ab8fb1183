"""Operators: admins create them (the token is in this one response); anyone may list."""

from __future__ import annotations

from fastapi import APIRouter, Response

from enclave.gateway.admin.deps import Actor, Registry
from enclave.gateway.admin.requests import OperatorCreate
from enclave.gateway.admin.views import IssuedOperatorView, Listing, OperatorView

router = APIRouter(tags=["operators"])


@router.post("/operators", status_code=201)
def create_operator(
    body: OperatorCreate, actor: Actor, registry: Registry, response: Response
) -> IssuedOperatorView:
    issued = registry.create_operator(actor, name=body.name, roles=[r.value for r in body.roles])
    response.headers["Cache-Control"] = "no-store"  # a credential: see keys.issue_key
    return IssuedOperatorView(operator=OperatorView.of(issued.operator), token=issued.token)


@router.get("/operators")
def list_operators(actor: Actor, registry: Registry) -> Listing[OperatorView]:
    return Listing[OperatorView](items=[OperatorView.of(o) for o in registry.list_operators(actor)])


__all__ = ["router"]
