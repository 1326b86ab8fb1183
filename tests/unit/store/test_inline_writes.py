"""SQLite writes on the event loop (WriteLanes.attempt) and the background WAL
checkpoints the server runs instead of SQLite's automatic ones."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enclave.events import Event
from enclave.store import Database
from enclave.store.driver import EventLog
from enclave.store.lanes import Urgency, WriteLanes, lanes_for


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'inline.db'}")
    db.migrate()
    yield db
    db.close()


def _event(subject: str) -> Event:
    return Event(kind="test.inline", actor="t", subject=subject, at=datetime.now(UTC), data={})


def _subjects(db: Database) -> list[str]:
    with db.reader() as unit:
        return [e.event.subject for e in unit.list_events(kind="test.inline")]


def test_lanes_write_inline_only_on_sqlite() -> None:
    assert lanes_for("sqlite:///x.db").inline
    assert not lanes_for("postgresql://localhost/test").inline


def test_a_write_with_the_lock_free_runs_on_the_calling_thread(sqlite_db: Database) -> None:
    lanes = sqlite_db.lanes
    threads: list[int] = []

    def write(subject: str) -> None:
        threads.append(threading.get_ident())
        with EventLog(sqlite_db.engine).unit() as unit:
            unit.append_many([_event(subject)])

    asyncio.run(lanes.attempt(Urgency.REQUEST, write, "inline-1"))
    assert threads == [threading.get_ident()]
    assert (lanes.inlined, lanes.deferred) == (1, 0)
    assert _subjects(sqlite_db) == ["inline-1"]


@pytest.mark.parametrize("through", ["driver", "sqlalchemy"])
def test_a_write_that_would_wait_for_the_lock_goes_to_the_lane_and_the_loop_runs_on(
    sqlite_db: Database, tmp_path: Path, through: str
) -> None:
    lanes = sqlite_db.lanes
    ran_on: list[int] = []

    def write(subject: str) -> None:
        ran_on.append(threading.get_ident())
        if through == "driver":
            with EventLog(sqlite_db.engine).unit() as unit:
                unit.append_many([_event(subject)])
        else:
            with sqlite_db.unit() as unit:  # SQLAlchemy: engine.begin_immediate
                unit.append_many([_event(subject)])

    # Another process's writer (the CLI, say) holds SQLite's write lock.
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def scenario() -> None:
        task = asyncio.ensure_future(lanes.attempt(Urgency.REQUEST, write, "deferred-1"))
        ticks = 0
        while lanes.deferred == 0 or ticks < 3:  # the loop keeps turning meanwhile
            await asyncio.sleep(0)
            ticks += 1
        assert not task.done()  # waiting in the lane, not on the loop
        other.execute("COMMIT")
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    other.close()
    assert lanes.deferred == 1 and lanes.inlined == 0
    # First tried here, then run in the lane's thread.
    assert ran_on[0] == threading.get_ident() and ran_on[-1] != threading.get_ident()
    assert _subjects(sqlite_db) == ["deferred-1"]


def test_postgres_lanes_never_write_inline() -> None:
    lanes = WriteLanes(2)
    seen: list[int] = []
    asyncio.run(lanes.attempt(Urgency.AFTER, lambda: seen.append(threading.get_ident())))
    lanes.close()
    assert seen and seen[0] != threading.get_ident()
    assert lanes.inlined == 0


def _autocheckpoint(db: Database) -> int:
    raw = db.engine.raw_connection()
    try:
        return int(raw.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    finally:
        raw.close()


def test_the_server_checkpoints_the_log_in_the_background(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    Database(url).migrate()
    cli = Database(url)
    assert cli.checkpointer is None and _autocheckpoint(cli) == 1000  # SQLite's default
    cli.close()

    server = Database(url, background_checkpoints=True)
    assert server.checkpointer is not None and _autocheckpoint(server) == 0
    with EventLog(server.engine).unit() as unit:
        unit.append_many([_event(f"e-{i}") for i in range(500)])
    wal = tmp_path / "server.db-wal"
    assert wal.stat().st_size > 0  # committed to the log, not yet copied back
    checkpointer = server.checkpointer
    server.close()  # the last pass copies what is left
    assert checkpointer.checkpoints >= 1
    # Everything is in the database file: a reader without the log sees it all.
    wal.unlink(missing_ok=True)
    Path(f"{wal}".replace("-wal", "-shm")).unlink(missing_ok=True)
    plain = sqlite3.connect(tmp_path / "server.db")
    try:
        count = plain.execute("SELECT count(*) FROM events WHERE kind = 'test.inline'")
        assert count.fetchone()[0] == 500
    finally:
        plain.close()
