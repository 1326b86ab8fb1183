"""Database engines: SQLite (WAL, foreign keys, IMMEDIATE write transactions) or
PostgreSQL (psycopg 3), picked by the URL alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from enclave.errors import Conflict, StoreError
from enclave.store.lanes import WouldWait, inline_attempt

_WRITE = "enclave_write"
BUSY_TIMEOUT_MS = 30000


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, *, echo: bool = False, background_checkpoints: bool = False) -> Engine:
    """``background_checkpoints``: SQLite's automatic WAL checkpoint is off on this
    engine's connections, for a process that runs store.checkpoints.WalCheckpointer."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )
        _configure_sqlite(engine, autocheckpoint=not background_checkpoints)
        return engine
    return create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, *, autocheckpoint: bool) -> None:
    # pysqlite's own transaction handling begins lazily and never with IMMEDIATE, so
    # two writers can both read, then deadlock on upgrade ("database is locked"). We
    # take over BEGIN (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional
    # DDL" for pysqlite) and take the write lock up front for write units.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE):
            begin_immediate(conn.exec_driver_sql)
        else:
            conn.exec_driver_sql("BEGIN DEFERRED")


def begin_immediate(execute: Callable[[str], object]) -> None:
    """BEGIN IMMEDIATE on SQLite: the write lock up front. In a write attempted inline
    (store/lanes.py, WriteLanes.attempt) only if the lock is free now: WouldWait, with
    nothing done, if another connection holds it."""
    if not inline_attempt():
        execute("BEGIN IMMEDIATE")
        return
    execute("PRAGMA busy_timeout=0")
    try:
        execute("BEGIN IMMEDIATE")
    except (sqlite3.OperationalError, OperationalError) as exc:
        if is_busy(exc):
            raise WouldWait from None
        raise
    finally:
        execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (another connection holds the lock), from sqlite3 or SQLAlchemy."""
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    return isinstance(orig, sqlite3.OperationalError) and (
        orig.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    )


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A transaction that commits on success and rolls back on any error."""
    try:
        with engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            yield conn
    except IntegrityError as exc:
        # The services check uniqueness first; reaching here means a concurrent writer
        # won the race (e.g. two requests creating the same name). The database refused.
        raise Conflict(
            "conflicting concurrent change refused by the database",
            hint=str(exc.orig).splitlines()[0],
        ) from None
    except OperationalError as exc:
        raise StoreError(f"database unavailable: {exc.orig}") from None
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreError(f"database connection lost: {exc.orig}") from None
        raise


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except OperationalError as exc:
        raise StoreError(f"database unavailable: {exc.orig}") from None


__all__ = [
    "BUSY_TIMEOUT_MS",
    "begin_immediate",
    "is_busy",
    "make_engine",
    "normalise_url",
    "read_connection",
    "write_connection",
]
