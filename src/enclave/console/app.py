"""The operator console as its own ASGI app, mounted by the composition root at /console.

Server-rendered: Jinja2 templates (autoescaped), one small static script for local times
and confirm() prompts, no build step. Every action calls the same services as the admin
API with the signed-in operator as the actor, so the same role checks apply and the same
events are recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.staticfiles import StaticFiles

from enclave import __version__
from enclave.clock import Clock
from enclave.config import Settings
from enclave.console import errors, signin
from enclave.console.accounts import ConsoleAccounts
from enclave.console.framework import PREFIX, Console, when
from enclave.console.pages import NAV, PAGES
from enclave.console.tables import PAGE_SIZES
from enclave.monitor import MonitorService
from enclave.registry import RegistryService
from enclave.store import Database
from enclave.store.console_repo import SqlConsoleStore

HERE = Path(__file__).parent


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a typo in a template is an error, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(when=when, page_sizes=PAGE_SIZES, version=__version__, nav=NAV)
    return env


def build_accounts(settings: Settings, db: Database, *, clock: Clock) -> ConsoleAccounts:
    return ConsoleAccounts(
        store=SqlConsoleStore(db.engine),
        lifetime=timedelta(minutes=settings.console_session_minutes),
        clock=clock,
    )


def build_console_app(
    *,
    settings: Settings,
    db: Database,
    registry: RegistryService,
    monitor: MonitorService,
    extra: Mapping[str, Any] | None = None,
) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = Console(
        settings=settings,
        registry=registry,
        monitor=monitor,
        accounts=build_accounts(settings, db, clock=registry.now),
        templates=templates(),
        extra=dict(extra or {}),
    )
    app.include_router(signin.router)
    for page in PAGES:
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    return app


__all__ = ["PREFIX", "build_accounts", "build_console_app", "templates"]
