from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from enclave.store import Database
from enclave.store.tables import metadata


def test_migrations_produce_exactly_the_declared_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert db.schema_is_current()


def test_migrate_is_idempotent(db: Database) -> None:
    db.migrate()
    assert db.schema_is_current()


def test_fresh_database_is_not_current(tmp_path) -> None:
    fresh = Database(f"sqlite:///{tmp_path / 'new.db'}")
    assert not fresh.schema_is_current()
    fresh.close()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    database.migrate()
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.close()
