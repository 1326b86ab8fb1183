"""SQL storage of the operator console: password hashes and sign-in sessions.

Both tables hold only derived values: an argon2 hash of each password, and the SHA-256 of
each session cookie and of its CSRF token (migration 0007), so a copy of the database
signs nobody in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, select, update

from enclave.registry import Operator, OperatorId
from enclave.store.engine import read_connection, write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.registry_repo import _operator
from enclave.store.tables import console_sessions, operator_passwords, operators

S = console_sessions.c


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    digest: str  # sha256 hex of the cookie value
    operator_id: OperatorId
    csrf_digest: str  # sha256 hex of the session's CSRF token
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


class SqlConsoleUnit(SqlEvents):
    """One transaction over the console tables, the operators and the events table."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn

    def get_operator(self, operator_id: OperatorId) -> Operator | None:
        row = self._c.execute(select(operators).where(operators.c.id == operator_id)).first()
        return _operator(row) if row else None

    def get_operator_by_name(self, name: str) -> Operator | None:
        row = self._c.execute(select(operators).where(operators.c.name == name)).first()
        return _operator(row) if row else None

    def get_password_hash(self, operator_id: OperatorId) -> str | None:
        row = self._c.execute(
            select(operator_passwords.c.hash).where(operator_passwords.c.operator_id == operator_id)
        ).first()
        return str(row.hash) if row else None

    def set_password_hash(self, operator_id: OperatorId, hashed: str, at: datetime) -> None:
        self._c.execute(
            delete(operator_passwords).where(operator_passwords.c.operator_id == operator_id)
        )
        self._c.execute(
            insert(operator_passwords).values(operator_id=operator_id, hash=hashed, set_at=at)
        )

    def insert_session(self, session: ConsoleSession) -> None:
        self._c.execute(
            insert(console_sessions).values(
                digest=session.digest,
                operator_id=session.operator_id,
                csrf_digest=session.csrf_digest,
                created_at=session.created_at,
                expires_at=session.expires_at,
                ended_at=session.ended_at,
            )
        )

    def get_session(self, digest: str) -> ConsoleSession | None:
        row = self._c.execute(select(console_sessions).where(S.digest == digest)).first()
        if row is None:
            return None
        return ConsoleSession(
            digest=row.digest,
            operator_id=OperatorId(row.operator_id),
            csrf_digest=row.csrf_digest,
            created_at=row.created_at,
            expires_at=row.expires_at,
            ended_at=row.ended_at,
        )

    def end_session(self, digest: str, at: datetime) -> None:
        self._c.execute(
            update(console_sessions)
            .where(S.digest == digest, S.ended_at.is_(None))
            .values(ended_at=at)
        )

    def end_sessions_of(self, operator_id: OperatorId, at: datetime) -> int:
        """End every live session of an operator (a new password signs the old ones out)."""
        done = self._c.execute(
            update(console_sessions)
            .where(S.operator_id == operator_id, S.ended_at.is_(None), S.expires_at > at)
            .values(ended_at=at)
        )
        return int(done.rowcount or 0)


class SqlConsoleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def unit(self) -> Iterator[SqlConsoleUnit]:
        with write_connection(self._engine) as conn:
            yield SqlConsoleUnit(conn)

    @contextmanager
    def reader(self) -> Iterator[SqlConsoleUnit]:
        with read_connection(self._engine) as conn:
            yield SqlConsoleUnit(conn)


__all__ = ["ConsoleSession", "SqlConsoleStore", "SqlConsoleUnit"]
