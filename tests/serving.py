"""Serving an ASGI app over real HTTP in a test: uvicorn on 127.0.0.1 in a thread.

Shared by the admin API, console, audit log and ledger tests (imported by name: pytest puts
tests/ on sys.path for tests/conftest.py). ``serve`` runs one app; ``live_server`` (in
tests/integration/conftest.py) is one server per test session into which each test mounts
its own app (starting and stopping uvicorn per test costs a tick of its main loop, 0.1 s).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send


class ReadyServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()  # also on failure, so the waiter wakes and reports it


@contextmanager
def serve(app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "off") -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (http://127.0.0.1:port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port: no race with other runs
    sock.listen(128)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan, ws="none")
    server = ReadyServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(timeout=30) and server.started, "uvicorn did not start"
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class SwappableApp:
    """The session server's app: forwards to whichever app the current test mounted."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "no app mounted for this test"
        await self.target(scope, receive, send)


@dataclass
class LiveServer:
    url: str
    app: SwappableApp

    @contextmanager
    def mounted(self, app: ASGIApp) -> Iterator[str]:
        """Serve ``app`` for the block (tests run one at a time, so the swap is safe)."""
        self.app.target = app
        try:
            yield self.url
        finally:
            self.app.target = None
