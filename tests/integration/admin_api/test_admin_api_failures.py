"""When the store fails: a 503 or 500 problem, logged, with nothing internal in the body.

The registry runs over fake stores that implement the ``RegistryStore`` Protocol and fail;
the service, the app and the server are the real ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest
from admin_support import PREFIX, assert_problem

from enclave.app import build_app
from enclave.config import load_settings
from enclave.errors import StoreError
from enclave.registry import RegistryService, RegistryUnit
from enclave.runtime import Runtime
from enclave.store import Database
from serving import LiveServer

TOKEN = "eop_abcdefghijkm_" + "A" * 43


class DownStore:
    """The database cannot be reached (what the engine raises as StoreError)."""

    @contextmanager
    def _fail(self) -> Iterator[RegistryUnit]:
        raise StoreError("database unavailable: connection to 10.0.0.5:5432 refused")
        yield  # pragma: no cover

    def unit(self) -> AbstractContextManager[RegistryUnit]:
        return self._fail()

    def reader(self) -> AbstractContextManager[RegistryUnit]:
        return self._fail()


class BrokenStore(DownStore):
    """A bug: an exception nobody anticipated, carrying internals in its message."""

    @contextmanager
    def _fail(self) -> Iterator[RegistryUnit]:
        raise RuntimeError("KeyError in row mapper; dsn=postgresql://enclave:hunter2@db")
        yield  # pragma: no cover


@contextmanager
def serve_over(live_server: LiveServer, store: DownStore, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = load_settings(
        environ={"ENCLAVE_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"},
        config_path=tmp_path / "absent.toml",
    )
    registry = RegistryService(store=store, settings=settings, pepper=b"p" * 32)
    db = Database(settings.database_url)
    try:
        app = build_app(Runtime(settings=settings, db=db, registry=registry))
        with live_server.mounted(app) as url, httpx.Client(base_url=url) as http:
            yield http
    finally:
        db.close()


def test_store_down_is_503_without_driver_details(
    live_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with serve_over(live_server, DownStore(), tmp_path) as http:
        response = http.get(PREFIX + "/orgs", headers={"Authorization": f"Bearer {TOKEN}"})
    problem = assert_problem(response, 503, "store_unavailable")
    assert "10.0.0.5" not in response.text and problem["detail"] == "the database is unavailable"
    assert any("10.0.0.5" in r.getMessage() for r in caplog.records)


def test_unexpected_error_is_500_logged_with_an_incident_id(
    live_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="enclave.gateway")
    with serve_over(live_server, BrokenStore(), tmp_path) as http:
        response = http.post(
            PREFIX + "/orgs",
            json={"name": "Acme", "kind": "partner", "tier": "partner"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    problem = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "KeyError" not in response.text
    incident = problem["instance"]
    assert incident.startswith("urn:uuid:")
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])  # the operator sees what the caller cannot
