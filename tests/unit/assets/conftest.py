"""Real protocols on loopback: a DNS server (dnslib), an HTTP server, local git repositories.

Every name in these tests lives in the test zone the local DNS server answers; the
settings point the resolver allowlist at it and allow loopback (off by default).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from assets_support import Site, Zone
from dnslib.server import DNSLogger, DNSServer

from enclave.assets import AssetService
from enclave.clock import Clock
from enclave.config import Settings
from enclave.config.assets import AssetsConfig
from enclave.registry import Operator, RegistryService
from enclave.store import Database
from enclave.store.assets_repo import SqlAssetStore

SECRET = b"p" * 32  # the registry fixture's pepper: the same account binding


@pytest.fixture
def zone() -> Iterator[tuple[Zone, int]]:
    resolver = Zone()
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=DNSLogger(logf=lambda _: None))
    # A short poll interval: shutdown() waits for one poll (0.5 s by default) per test.
    thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield resolver, server.server.server_address[1]
    finally:
        server.stop()
        server.server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def site() -> Iterator[tuple[Site, int]]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hosts.append(self.headers.get("Host", ""))
            status, body, headers = state.pages.get(self.path, (404, b"not found", {}))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def cfg(zone: tuple[Zone, int], site: tuple[Site, int]) -> AssetsConfig:
    return AssetsConfig(
        resolvers=(f"127.0.0.1:{zone[1]}",),
        http_port=site[1],
        allow_loopback=True,
        git_protocols=("file",),
        timeout_seconds=3,
    )


@pytest.fixture
def loopback(settings: Settings, cfg: AssetsConfig) -> Settings:
    return settings.model_copy(update={"assets": cfg})


@pytest.fixture
def assets(db: Database, loopback: Settings, clock: Clock) -> AssetService:
    return AssetService(
        store=SqlAssetStore(db.engine), settings=loopback, secret=SECRET, clock=clock
    )


@pytest.fixture
def approved(
    registry: RegistryService, admin: Operator, reviewers: tuple[Operator, Operator]
) -> str:
    """Two approved partner organisations, Acme and Beta; returns Acme's id."""
    ids = []
    for name in ("Acme", "Beta"):
        _, app = registry.create_org(admin, name=name, kind="partner", tier="partner")
        registry.decide(reviewers[0], app.id, decision="approve", reason="ok")
        org = registry.decide(reviewers[1], app.id, decision="approve", reason="ok")[1]
        ids.append(org.id)
    return ids[0]
