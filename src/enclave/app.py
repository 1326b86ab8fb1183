"""The ASGI application: the composition root. Nothing imports this module; uvicorn
loads it by name (``enclave.app:create_app``, factory mode)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from enclave import __version__
from enclave.config import load_settings
from enclave.console import build_console_app
from enclave.console import errors as console_errors
from enclave.console.audit_views import AuditConsole
from enclave.console.policy_views import PoliciesPage
from enclave.console.report_views import ReportsConsole
from enclave.console.transparency import build_router as transparency_router
from enclave.gateway import admin, client_errors, problems
from enclave.gateway.client_routes import ClientApi
from enclave.gateway.disclosure_routes import DisclosureProvider
from enclave.gateway.disclosure_routes import build_router as disclosure_router
from enclave.gateway.limits import RequestLimits, by_path_prefix
from enclave.gateway.log_routes import router as log_router
from enclave.reports import ReportService
from enclave.runtime import Runtime, open_runtime
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.ledger_repo import open_credits
from enclave.store.monitor_repo import build_monitor
from enclave.store.reports_repo import SqlReportStore


def build_app(runtime: Runtime, *, client: ClientApi | None = None) -> FastAPI:
    client = client or ClientApi.build(runtime)  # the client APIs (docs/gateway.md)
    app = FastAPI(
        title="Enclave",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the admin API serves its own document at /admin/v1/openapi.json
        lifespan=client.lifespan,
    )
    app.state.runtime = runtime

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    app.include_router(log_router)  # /log: checkpoint, tiles, proofs (docs/audit-log.md)
    disclosure = DisclosureProvider(runtime)  # maintainer links, public pages (docs/disclosure.md)
    app.include_router(disclosure_router(disclosure))
    # Published transparency reports, public (docs/transparency.md); the console publishes
    # through the same service, on the registry's clock ("today" for a report's period).
    reports = ReportService(store=SqlReportStore(runtime.db.engine), clock=runtime.registry.now)
    app.include_router(transparency_router(reports))
    credits = open_credits(runtime.db, runtime.settings)[1]
    app.mount(
        admin.PREFIX,
        admin.build_admin_app(
            runtime.registry,
            disclosure_service=disclosure,
            assets_service=runtime.assets,
            credits_service=credits,
            monitor_service=client.monitor,
        ),
    )
    app.mount("/admin", problems.not_found)  # any other /admin path: a problem, not HTML
    # The operator console (docs/console.md): the gateway's monitor when it has one, so a
    # hold or terminate acts on the same session state the client calls read.
    monitor = client.monitor or build_monitor(
        runtime.settings,
        runtime.db,
        scope_of=runtime.assets.scope_entries_for_key if runtime.assets else None,
    )
    app.mount(
        "/console",
        build_console_app(
            settings=runtime.settings,
            db=runtime.db,
            registry=runtime.registry,
            monitor=monitor,
            # The same services as the admin API (and the gateway's policy engine, which
            # SIGHUP reloads), so the console's pages show and change exactly what it does.
            extra={
                "credits": credits,
                "disclosure": disclosure,
                "auditlog": AuditConsole(
                    store=SqlAuditLog(runtime.db.engine), settings=runtime.settings
                ),
                "policies": PoliciesPage(client.policy),
                "reports": ReportsConsole(
                    service=reports, engine=client.policy, clock=runtime.registry.now
                ),
            },
        ),
    )
    app.router.routes[0:0] = client.routes()  # /v1/*, /metrics: first, the hot path

    settings = runtime.settings
    limits: dict[str, Any] = {
        "max_body_bytes": settings.max_body_bytes,
        "max_json_depth": settings.max_json_depth,
        # Each API refuses in its own error shape: one line per API here.
        "render": by_path_prefix(
            {
                "/admin": problems.render_error,
                "/v1": client_errors.render_error,
                "/console": console_errors.render_error,
            },
            default=problems.render_error,
        ),
        "require_json": lambda scope: admin.is_mutation(scope) or client.requires_json(scope),
    }
    app.add_middleware(RequestLimits, **limits)
    # The same limits in front of the model calls when the server mounts them directly.
    app.state.model_calls = {
        path: RequestLimits(handler, **limits) for path, handler in client.model_calls().items()
    }
    return app


class ModelCalls:
    """The model calls straight to the governed path, ahead of the framework.

    They are most of the traffic, and the pipeline parses, checks and answers them
    itself, errors included, in each API's own shape: FastAPI's and Starlette's layers
    (error and telemetry middleware, exception handlers, the router) only added about
    70 us to each (profiled under `make bench-gateway`). Every other path, and any
    scope that is not a plain HTTP request to one of these paths, goes to ``app``, which
    serves the model calls the same way (tests/integration/gateway/test_model_calls_lane.py).
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._calls: dict[str, ASGIApp] = app.state.model_calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            call = self._calls.get(scope["path"])
            if call is not None:
                await call(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app() -> ModelCalls:
    """uvicorn factory: settings from the environment, database must be initialised."""
    return ModelCalls(build_app(open_runtime(load_settings(), serving=True)))


__all__ = ["ModelCalls", "build_app", "create_app"]
