"""Fixtures for the admin API over real HTTP.

One uvicorn server on 127.0.0.1 serves the whole session (starting and stopping uvicorn per
test costs a tick of its main loop, 0.1 s, each time); every test mounts its own app, built
by ``build_app`` over that test's database, into it. Tests run one at a time, so the swap is
safe. Every test that takes ``api`` runs on SQLite and on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from admin_support import MAX_BODY, Api, LiveServer, Ops, ReadyServer, SwappableApp

from enclave.app import build_app
from enclave.assets import AssetService
from enclave.config import Settings
from enclave.registry import RegistryService
from enclave.runtime import Runtime
from enclave.store import Database


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port: no race with other runs
    sock.listen(128)
    swappable = SwappableApp()
    config = uvicorn.Config(swappable, log_config=None, access_log=False, lifespan="off", ws="none")
    server = ReadyServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(timeout=30) and server.started, "uvicorn did not start"
        host, port = sock.getsockname()
        yield LiveServer(url=f"http://{host}:{port}", app=swappable)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


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
