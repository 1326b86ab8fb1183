"""The events table: append and read, never update or delete."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import Connection, insert, select

from enclave.events import Event, StoredEvent, canonical_json
from enclave.store.tables import events

# Built once: a statement made per call (insert().values(...)) is compiled, or at least
# cache-keyed, on every execution; this one is a parameter set away from the driver.
_APPEND = insert(events).returning(events.c.seq)


def _row(event: Event) -> dict[str, object]:
    return {
        "at": event.at,
        "kind": event.kind,
        "actor": event.actor,
        "subject": event.subject,
        "data": canonical_json(event.data).decode("utf-8"),
    }


class SqlEvents:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, event: Event) -> int:
        result = self._conn.execute(_APPEND, _row(event))
        return int(result.scalar_one())

    def append_many(self, batch: Sequence[Event]) -> None:
        if batch:
            self._conn.execute(insert(events), [_row(e) for e in batch])

    def list_events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        kind: str | None = None,
        subject: str | None = None,
    ) -> list[StoredEvent]:
        query = select(events).where(events.c.seq > after).order_by(events.c.seq).limit(limit)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        if subject is not None:
            query = query.where(events.c.subject == subject)
        return [
            StoredEvent(
                seq=row.seq,
                event=Event(
                    kind=row.kind,
                    actor=row.actor,
                    subject=row.subject,
                    at=row.at,
                    data=orjson.loads(row.data),
                ),
            )
            for row in self._conn.execute(query)
        ]


__all__ = ["SqlEvents"]
