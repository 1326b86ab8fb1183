"""Shared fixtures: a fresh database per test, on SQLite and (where reachable) PostgreSQL.

Every test that takes ``db`` runs twice: ``[sqlite]`` on a temporary file and
``[postgres]`` in a throw-away schema of the server at ``TEST_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test). Outside CI an unreachable PostgreSQL skips
those runs with one summary line; with ``CI=true`` it is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from enclave.assets import AssetService
from enclave.config import Settings, load_settings
from enclave.registry import Operator, RegistryService
from enclave.store import Database
from enclave.store.assets_repo import SqlAssetStore

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


_PG_PROBLEM: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _PG_PROBLEM
    _PG_PROBLEM = _postgres_reachable()
    if _PG_PROBLEM and IN_CI:
        raise pytest.UsageError(
            f"CI=true but PostgreSQL is not reachable at {PG_URL}: {_PG_PROBLEM}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    if _PG_PROBLEM:
        return f"PostgreSQL: NOT reachable at {PG_URL} ({_PG_PROBLEM}); its tests are skipped"
    return f"PostgreSQL: {PG_URL}"


class Clock:
    """A controllable clock for services (tests move time instead of sleeping)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'enclave.db'}"
        return
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (CI=true makes this a failure)")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings(
        environ={"ENCLAVE_DATABASE_URL": db_url, "ENCLAVE_STATE_DIR": str(tmp_path / "state")},
        config_path=tmp_path / "absent.toml",
    )


@pytest.fixture
def assets(db: Database, settings: Settings, clock: Clock) -> AssetService:
    return AssetService(
        store=SqlAssetStore(db.engine), settings=settings, secret=b"p" * 32, clock=clock
    )


@pytest.fixture
def registry(
    db: Database, settings: Settings, clock: Clock, assets: AssetService
) -> RegistryService:
    # Wired as open_runtime wires it: a key's scope must be verified assets (issue 8).
    return RegistryService(
        store=db, settings=settings, pepper=b"p" * 32, clock=clock, assets=assets
    )


@pytest.fixture
def admin(registry: RegistryService) -> Operator:
    return registry.create_operator(None, name="root", roles=["admin"]).operator


@pytest.fixture
def reviewers(registry: RegistryService, admin: Operator) -> tuple[Operator, Operator]:
    first = registry.create_operator(admin, name="rev-a", roles=["reviewer"]).operator
    second = registry.create_operator(admin, name="rev-b", roles=["reviewer"]).operator
    return first, second
