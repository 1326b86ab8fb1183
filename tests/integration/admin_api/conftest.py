"""Fixtures for the admin API over real HTTP.

Every test mounts its own app, built by ``build_app`` over that test's database, into the
session's uvicorn server (``live_server``, tests/integration/conftest.py). Every test that
takes ``api`` runs on SQLite and on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from admin_support import MAX_BODY, Api, Ops

from enclave.app import build_app
from enclave.assets import AssetService
from enclave.config import Settings
from enclave.registry import RegistryService
from enclave.runtime import Runtime
from enclave.store import Database
from serving import LiveServer


@pytest.fixture
def ops(registry: RegistryService) -> Ops:
    root = registry.create_operator(None, name="root", roles=["admin"])
    tokens = {"admin": root.token}
    for name, role in (("rev-a", "reviewer"), ("rev-b", "reviewer"), ("auditor", "auditor")):
        tokens[name] = registry.create_operator(root.operator, name=name, roles=[role]).token
    return Ops(root=root.operator, tokens=tokens)


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_body_bytes": MAX_BODY})


@pytest.fixture
def runtime(
    db: Database, api_settings: Settings, registry: RegistryService, assets: AssetService
) -> Runtime:
    return Runtime(settings=api_settings, db=db, registry=registry, assets=assets)


@pytest.fixture
def api(live_server: LiveServer, runtime: Runtime, ops: Ops) -> Iterator[Api]:
    with (
        live_server.mounted(build_app(runtime)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield Api(http, ops.tokens)
