"""Fixtures for the client APIs over real HTTP.

Two uvicorn servers on 127.0.0.1 serve the whole session: the fake upstream
(benchmarks/fake_upstream.py) and Enclave, into which each test mounts the app that
``build_app`` makes over that test's database. The test's gateway is started and closed
on the server's own event loop (its aiohttp pools and recorder task live there); closing
it flushes the recorder, as the ASGI lifespan does in `enclave serve`. Tests that take
``gateway`` run on SQLite and on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gateway_support import (
    FakeUpstream,
    Gateway,
    State,
    Swappable,
    close_sdk_clients,
    gateway_config,
    run_gateway,
    serve_in_thread,
)

from enclave.config import Settings
from enclave.registry import Operator, RegistryService
from enclave.store import Database


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[tuple[str, Any]]:
    state = State()
    with serve_in_thread(FakeUpstream(state), log_level="critical") as (url, _):
        yield url, state


@pytest.fixture(scope="session")
def enclave_server() -> Iterator[tuple[str, Any, Swappable]]:
    swappable = Swappable()
    with serve_in_thread(swappable, log_level="warning") as (url, server):
        yield url, server, swappable


@pytest.fixture
def upstream(upstream_server: tuple[str, Any]) -> Any:
    url, state = upstream_server
    state.reset()
    return state


@pytest.fixture
def gateway_settings(settings: Settings, upstream_server: tuple[str, Any]) -> Settings:
    extra = gateway_config(upstream_server[0])
    return Settings.model_validate({**settings.model_dump(), **extra})


@pytest.fixture
def second_admin(registry: RegistryService, admin: Operator) -> Operator:
    return registry.create_operator(admin, name="second", roles=["admin"]).operator


@pytest.fixture
def gateway(
    gateway_settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> Iterator[Gateway]:
    yield from run_gateway(
        gateway_settings, db, registry, admin, second_admin, clock, enclave_server, upstream
    )


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    close_sdk_clients()
