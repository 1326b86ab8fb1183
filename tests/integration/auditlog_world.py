"""Helpers for the audit log's integration tests: a populated log on the ``db`` fixture and
an insider who bypasses the database's append-only guards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from enclave.auditlog import AuditLog, Signer
from enclave.events import Event
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.engine import write_connection
from enclave.store.events_repo import SqlEvents

GUARDED = ("events", "log_leaves", "log_hashes", "log_checkpoints")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    db: Database
    signer: Signer
    log: AuditLog

    def append(self, n: int, *, kind: str = "test.event") -> None:
        with write_connection(self.db.engine) as conn:
            start = self.count_events()
            SqlEvents(conn).append_many(
                [
                    Event(
                        kind=kind,
                        actor="system",
                        subject=f"subject-{start + i}",
                        at=T0 + timedelta(microseconds=start + i),
                        data={"i": start + i, "body": "sha256:" + "ab" * 32},
                    )
                    for i in range(n)
                ]
            )

    def count_events(self) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())

    def seq_of(self, index: int) -> int:
        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT event_seq FROM log_leaves WHERE idx = :i"), {"i": index}
                ).scalar_one()
            )

    def note(self, size: int) -> str:
        with self.db.engine.connect() as conn:
            return str(
                conn.execute(
                    text("SELECT note FROM log_checkpoints WHERE tree_size = :s"), {"s": size}
                ).scalar_one()
            )


def make_world(db: Database, *, batches: tuple[int, ...] = (10, 10, 10, 10)) -> World:
    signer = Signer.generate("enclave.test/log")
    world = World(db=db, signer=signer, log=AuditLog(store=SqlAuditLog(db.engine), signer=signer))
    for n in batches:
        world.append(n)
        world.log.integrate()
    return world


def as_insider(db: Database, *statements: str, **params: object) -> None:
    """Run statements the way someone with DDL rights could: past the triggers (dropped on
    SQLite, disabled with session_replication_role on PostgreSQL) and foreign keys."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in statements:
                conn.execute(text(statement), params)
        return
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        for table in GUARDED:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        cursor.execute("BEGIN IMMEDIATE")
        for statement in statements:
            cursor.execute(statement, params)
        cursor.execute("COMMIT")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()
