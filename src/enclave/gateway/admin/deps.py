"""What every admin route depends on: the registry and the authenticated operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from enclave.errors import AuthError
from enclave.registry import Operator, RegistryService

# auto_error=False: a missing or non-Bearer header must become our 401 problem, not
# FastAPI's own 403 JSON. The scheme still appears in the OpenAPI document.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="operatorToken",
    description="An operator token (`eop_…`), printed once by `enclave init` or `POST /operators`.",
)


def get_registry(request: Request) -> RegistryService:
    service = request.app.state.registry
    assert isinstance(service, RegistryService)
    return service


Registry = Annotated[RegistryService, Depends(get_registry)]


def get_operator(
    registry: Registry,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    """Resolve the bearer token to an operator. What the operator may do is decided by the
    service on every call (roles: admin, reviewer, auditor), never here."""
    if credentials is None:
        raise AuthError(
            "an operator token is required",
            hint="send Authorization: Bearer eop_… (printed by `enclave init`)",
        )
    return registry.authenticate_operator(credentials.credentials)


Actor = Annotated[Operator, Depends(get_operator)]

__all__ = ["Actor", "Registry", "get_operator", "get_registry"]
