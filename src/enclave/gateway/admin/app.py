"""The admin API as its own ASGI app, mounted by the composition root at ``PREFIX``.

A sub-application rather than a router on the main app so that it has its own error
handlers (problem+json here; the client APIs answer in their providers' shapes) and its own
OpenAPI document, generated from these routes only, at ``PREFIX + "/openapi.json"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import Scope

from enclave import __version__
from enclave.assets import AssetService
from enclave.gateway import problems
from enclave.gateway.admin import (
    assets,
    credits,
    disclosure,
    events,
    keys,
    monitor,
    operators,
    orgs,
)
from enclave.gateway.admin.views import Problem
from enclave.ledger import CreditsService
from enclave.monitor import MonitorService
from enclave.registry import RegistryService

PREFIX = "/admin/v1"
_MUTATIONS = frozenset({"POST", "PUT", "PATCH"})

# Documented on every route: each error is RFC 9457 problem+json (see gateway.problems).
_PROBLEM: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "The request was refused; nothing changed.",
        "model": Problem,
    },
    "5XX": {
        "description": "Enclave or its database failed; nothing changed.",
        "model": Problem,
    },
}


def is_mutation(scope: Scope) -> bool:
    """Requests that must carry ``Content-Type: application/json`` (for RequestLimits)."""
    path: str = scope["path"]
    return scope["method"] in _MUTATIONS and (path + "/").startswith(PREFIX + "/")


def build_admin_app(
    registry: RegistryService,
    *,
    disclosure_service: Callable[[], Any] | None = None,
    assets_service: AssetService | None = None,
    credits_service: CreditsService | None = None,
    monitor_service: MonitorService | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Enclave admin API",
        version=__version__,
        summary="Vet organisations, issue and revoke keys, manage operators, read events.",
        description="Authenticate with `Authorization: Bearer eop_…`. Roles: `admin` does "
        "everything, `reviewer` vets organisations, `auditor` only reads. Every change is "
        "recorded as an event; every error is RFC 9457 `application/problem+json`.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.registry = registry
    app.state.disclosure = disclosure_service  # built lazily (gateway.disclosure_routes)
    app.state.assets = assets_service
    app.state.credits = credits_service
    app.state.monitor = monitor_service  # the gateway's own instance (ClientApi.monitor)
    modules = (orgs, keys, operators, events, disclosure, assets, credits, monitor)
    routers = [module.router for module in modules]
    for router in routers:
        app.include_router(router, responses=_PROBLEM)
    problems.install(app, allowed_methods=_allowed_methods(routers))
    app.openapi = _problem_errors(app.openapi)  # type: ignore[method-assign]
    return app


def _allowed_methods(routers: list[APIRouter]) -> Callable[[str], set[str]]:
    table = [
        (compile_path(route.path)[0], route.methods or set())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]

    def allowed(path: str) -> set[str]:
        return {method for regex, methods in table if regex.match(path) for method in methods}

    return allowed


def _problem_errors(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Fix FastAPI's document to say what the API does: errors are problem+json under
    4XX/5XX (FastAPI files every response model under application/json), and there is no
    422 ``HTTPValidationError`` body (validation failures are problems too)."""
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        schema = generate()  # generated once, then cached by FastAPI
        if not done:
            for item in schema["paths"].values():
                for operation in item.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    for status in ("4XX", "5XX"):
                        content = responses[status]["content"]
                        content[problems.PROBLEM_JSON] = content.pop("application/json")
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            done = True
        return schema

    return openapi


__all__ = ["PREFIX", "build_admin_app", "is_mutation"]
