"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from serving import LiveServer, SwappableApp, serve


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """One uvicorn server for the session; each test mounts its own app into it."""
    swappable = SwappableApp()
    with serve(swappable) as url:
        yield LiveServer(url=url, app=swappable)
