"""Write transactions on the database driver (sqlite3 or psycopg), for the request path.

The gateway writes on every request: the credit reservation, its settlement and the
request's event. Through SQLAlchemy Core a reservation and its settlement cost about
0.9 ms of CPU on SQLite, most of it in execution contexts and result objects rather
than in the database (profiled under `make bench-gateway`). Here the same statements go
straight to a pooled driver connection's cursor, with fixed SQL text (the drivers cache
the prepared statements) and values encoded exactly as SQLAlchemy's column types encode
them (enclave.store.tables), so both paths write the same bytes and read each other's
rows (tests/integration/store/test_driver_writes.py compares them). Everything else
stays on SQLAlchemy.

A transaction attempted inline on the event loop (store/lanes.py, WriteLanes.attempt)
takes SQLite's write lock without waiting or raises WouldWait before doing anything.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from enclave.errors import Conflict, StoreError
from enclave.events import Event, canonical_json
from enclave.store.engine import begin_immediate, is_busy
from enclave.store.lanes import WouldWait, inline_attempt


def sqlite_datetime(value: datetime | None) -> str | None:
    """UTCDateTime on SQLite: UTC, stored without the zone, in SQLAlchemy's format."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: every timestamp carries a time zone")
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


def postgres_datetime(value: datetime | None) -> datetime | None:
    """UTCDateTime on PostgreSQL: psycopg sends an aware datetime as timestamptz."""
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime refused: every timestamp carries a time zone")
    return value


def utc(value: Any) -> datetime | None:
    """A UTCDateTime column's value as read by either driver."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def loaded_json(value: Any) -> Any:
    """A JSON column's value: sqlite3 returns its text, psycopg has parsed it."""
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one driver takes statements and values."""

    postgres: bool
    datetime: Callable[[datetime | None], Any]
    dbapi: Any  # the driver module: its PEP 249 exception classes


def postgres_sql(statement: str) -> str:
    """A statement written with sqlite3's ? placeholders, in psycopg's paramstyle."""
    return statement.replace("?", "%s")


SQLITE = Dialect(postgres=False, datetime=sqlite_datetime, dbapi=sqlite3)


def dialect_of(engine: Engine) -> Dialect:
    if engine.dialect.name != "postgresql":
        return SQLITE
    # The driver module SQLAlchemy loaded (psycopg): a SQLite process never imports it.
    return Dialect(postgres=True, datetime=postgres_datetime, dbapi=engine.dialect.loaded_dbapi)


_APPEND = "INSERT INTO events (at, kind, actor, subject, data) VALUES (?, ?, ?, ?, ?)"
_APPEND_ONE = _APPEND + " RETURNING seq"
# (append many, append one) per driver, made once.
_EVENT_SQL = {
    False: (_APPEND, _APPEND_ONE),
    True: (postgres_sql(_APPEND), postgres_sql(_APPEND_ONE)),
}


class DriverEvents:
    """enclave.events.EventWriter on a driver cursor, in the caller's transaction."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cur = cursor
        self._d = dialect
        self._append, self._append_one = _EVENT_SQL[dialect.postgres]

    def _row(self, e: Event) -> tuple[Any, ...]:
        data = canonical_json(e.data).decode("utf-8")
        return (self._d.datetime(e.at), e.kind, e.actor, e.subject, data)

    def append(self, event: Event) -> int:
        self._cur.execute(self._append_one, self._row(event))
        return int(self._cur.fetchone()[0])

    def append_many(self, events: Sequence[Event]) -> None:
        if events:
            self._cur.executemany(self._append, [self._row(e) for e in events])


def is_unique_violation(orig: BaseException | None) -> bool:
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")  # PostgreSQL unique_violation
    return "UNIQUE constraint failed" in str(orig)


def is_foreign_key_violation(orig: BaseException | None) -> bool:
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23503")  # PostgreSQL foreign_key_violation
    return "FOREIGN KEY constraint failed" in str(orig)


class _Kept:
    """Per thread, one driver connection of an engine's, kept out of the pool for the
    writes attempted inline on the event loop: a pool checkout and check-in cost about
    30 us of Python per transaction (profiled), more than a reservation's statements.
    Closed by :func:`close_connections` (Database.close) or dropped when broken."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any | None:
        """This thread's connection, or None when it is in use (a nested transaction:
        the caller takes one from the pool instead)."""
        if getattr(self._local, "busy", False):
            return None
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            proxied = self._engine.raw_connection()
            conn = proxied.driver_connection
            proxied.detach()  # ours for good; the engine's connect settings stay
            if self._engine.dialect.name == "sqlite":
                # Used only for inline attempts: never wait for the write lock here.
                conn.execute("PRAGMA busy_timeout=0")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        self._local.busy = True
        return conn

    def give_back(self, *, broken: bool) -> None:
        self._local.busy = False
        if broken:
            conn, self._local.conn = self._local.conn, None
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            with contextlib.suppress(self._error):
                conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(self._error):
                conn.close()


_KEPT: weakref.WeakKeyDictionary[Engine, _Kept] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def _kept(engine: Engine) -> _Kept:
    found = _KEPT.get(engine)
    if found is None:
        with _KEPT_LOCK:
            found = _KEPT.setdefault(engine, _Kept(engine))
    return found


def close_connections(engine: Engine) -> None:
    """Close the connections driver transactions kept for ``engine`` (Database.close)."""
    with _KEPT_LOCK:
        kept = _KEPT.pop(engine, None)
    if kept is not None:
        kept.close()


@contextmanager
def driver_transaction(engine: Engine) -> Iterator[tuple[Any, Dialect]]:
    """One write transaction on a driver connection, as (cursor, dialect): committed
    when the block ends, rolled back on any error, with the errors of
    engine.write_connection (Conflict for a refused constraint, StoreError for an
    unavailable database). Attempted inline, WouldWait instead of waiting for a lock."""
    dialect = dialect_of(engine)
    postgres, errors = dialect.postgres, dialect.dbapi
    kept = _kept(engine)
    try:
        # Kept only for writes attempted inline (the event loop's thread, SQLite): any
        # number of threads may write, and the pool bounds their connections.
        conn: Any = kept.take() if inline_attempt() else None
        pooled = None
        if conn is None:
            pooled = engine.raw_connection()
            conn = pooled.driver_connection
    except (DBAPIError, errors.Error) as exc:
        raise StoreError(f"database unavailable: {getattr(exc, 'orig', exc)}") from None
    broken = False
    cursor = None
    try:
        cursor = conn.cursor()
        if not postgres:
            if pooled is None:  # kept: its busy timeout is 0 already
                _begin_now(cursor)
            else:
                begin_immediate(cursor.execute)
        try:
            yield cursor, dialect
        except BaseException:
            broken = not _rollback(conn, dialect)
            raise
        if postgres:
            conn.commit()
        else:
            cursor.execute("COMMIT")
    except errors.IntegrityError as exc:
        broken = not _rollback(conn, dialect)
        raise Conflict(
            "conflicting concurrent change refused by the database",
            hint=str(exc).splitlines()[0] if str(exc) else None,
        ) from None
    except (errors.OperationalError, errors.InterfaceError) as exc:
        # PostgreSQL: the connection may be gone; never use it again.
        broken = postgres or not _rollback(conn, dialect)
        raise StoreError(f"database unavailable: {exc}") from None
    finally:
        if cursor is not None:
            with contextlib.suppress(errors.Error):
                cursor.close()
        if pooled is None:
            kept.give_back(broken=broken)
        elif broken:
            pooled.invalidate()
        else:
            pooled.close()


def _begin_now(cursor: Any) -> None:
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise WouldWait from None
        raise


def _rollback(conn: Any, dialect: Dialect) -> bool:
    """Undo the transaction; False when the connection is broken."""
    try:
        if dialect.postgres:
            conn.rollback()
        elif conn.in_transaction:
            conn.execute("ROLLBACK")
    except dialect.dbapi.Error:
        return False
    return True


class EventLog:
    """The events table through driver transactions: the recorder's sink."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def unit(self) -> Iterator[DriverEvents]:
        with driver_transaction(self._engine) as (cursor, dialect):
            yield DriverEvents(cursor, dialect)


__all__ = [
    "dialect_of",
    "SQLITE",
    "Dialect",
    "DriverEvents",
    "EventLog",
    "driver_transaction",
    "is_foreign_key_violation",
    "is_unique_violation",
    "close_connections",
    "loaded_json",
    "postgres_sql",
    "sqlite_datetime",
    "utc",
]
