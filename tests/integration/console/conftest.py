"""Fixtures for the console over real HTTP: each test's app (``enclave.app.build_app`` over
that test's database) mounted into the session's uvicorn server (``live_server``,
tests/integration/conftest.py). Every test that uses them runs on SQLite and on PostgreSQL
(the ``db`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from console_support import PASSWORD, ConsoleClient, SignIn

from enclave.app import build_app
from enclave.assets import AssetService
from enclave.config import Settings
from enclave.console import ConsoleAccounts, build_accounts
from enclave.registry import Operator, RegistryService
from enclave.runtime import Runtime
from enclave.store import Database
from enclave.store.console_repo import SqlConsoleStore
from serving import LiveServer

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def accounts(settings: Settings, db: Database, registry: RegistryService) -> ConsoleAccounts:
    """The console's accounts service as the app builds it (argon2-cffi's defaults)."""
    return build_accounts(settings, db, clock=registry.now)


@pytest.fixture
def operators(registry: RegistryService, db: Database) -> dict[str, Operator]:
    """root (admin), rev-a and rev-b (reviewer), auditor; each with password PASSWORD.

    The passwords are set with cheap argon2 parameters (one default hash costs ~0.5 s on
    the shared CI machine, and every test needs four): the console verifies them as it
    verifies any hash, and upgrades each to its own parameters at the first sign-in
    (test_console_auth checks that)."""
    cheap = ConsoleAccounts(
        store=SqlConsoleStore(db.engine),
        lifetime=timedelta(hours=1),
        clock=registry.now,
        hasher=CHEAP,
    )
    root = registry.create_operator(None, name="root", roles=["admin"]).operator
    found = {"root": root}
    for name, role in (("rev-a", "reviewer"), ("rev-b", "reviewer"), ("auditor", "auditor")):
        found[name] = registry.create_operator(root, name=name, roles=[role]).operator
    for name in found:
        cheap.set_password(root, name, PASSWORD)
    return found


@pytest.fixture
def runtime(
    db: Database, settings: Settings, registry: RegistryService, assets: AssetService
) -> Runtime:
    return Runtime(settings=settings, db=db, registry=registry, assets=assets)


@pytest.fixture
def console_url(
    live_server: LiveServer, runtime: Runtime, operators: dict[str, Operator]
) -> Iterator[str]:
    with live_server.mounted(build_app(runtime)) as url:
        yield url


@pytest.fixture
def browser(console_url: str) -> Iterator[ConsoleClient]:
    """A client that has not signed in."""
    client = ConsoleClient(console_url)
    yield client
    client.close()


@pytest.fixture
def signed(console_url: str) -> Iterator[SignIn]:
    """signed("root") -> a ConsoleClient signed in as that operator (its own cookies)."""
    clients: list[ConsoleClient] = []

    def sign_in(name: str) -> ConsoleClient:
        client = ConsoleClient(console_url)
        clients.append(client)
        response = client.sign_in(name)
        assert response.status_code == 303, response.text
        return client

    yield sign_in
    for client in clients:
        client.close()
