"""The recorder writes in batches, one transaction each, and loses nothing on close."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from enclave.clock import utcnow
from enclave.errors import StoreError
from enclave.events import Event, EventWriter
from enclave.gateway.recorder import Recorder
from enclave.registry import Operator, RegistryService
from enclave.store import Database


class Counting:
    """The real database, counting write transactions (and failing the first few)."""

    def __init__(self, db: Database, fail: int = 0) -> None:
        self.db = db
        self.units = 0
        self.fail = fail

    def unit(self) -> AbstractContextManager[EventWriter]:
        return self._unit()

    @contextmanager
    def _unit(self) -> Iterator[EventWriter]:
        if self.fail:
            self.fail -= 1
            raise StoreError("database unavailable: simulated outage")
        self.units += 1
        with self.db.unit() as unit:
            yield unit


def _event(i: int) -> Event:
    return Event("gateway.request", "key:k", f"ses_{i}", utcnow(), {"n": i})


def _stored(registry: RegistryService, admin: Operator) -> list[int]:
    events = registry.list_events(admin, kind="gateway.request", limit=1000)
    return [e.event.data["n"] for e in events]


def test_a_burst_is_written_in_batches(
    db: Database, registry: RegistryService, admin: Operator
) -> None:
    sink = Counting(db)

    async def main() -> None:
        recorder = Recorder(sink, lanes=db.lanes, batch=100, interval=0.01)
        await recorder.start()
        for i in range(1000):
            recorder.record(_event(i))
        await recorder.flush()
        assert recorder.written == 1000
        await recorder.close()

    asyncio.run(main())
    assert sink.units == 10  # one transaction per batch, not per event
    assert _stored(registry, admin) == list(range(1000))


def test_close_writes_everything_queued(
    db: Database, registry: RegistryService, admin: Operator
) -> None:
    async def main() -> None:
        recorder = Recorder(
            Counting(db), lanes=db.lanes, batch=500, interval=60
        )  # the timer never fires
        await recorder.start()
        for i in range(250):
            recorder.record(_event(i))
        await asyncio.sleep(0)  # let the writer start waiting on its window
        await recorder.close()
        assert recorder.pending == 0

    asyncio.run(main())
    assert _stored(registry, admin) == list(range(250))


def test_an_outage_is_retried_not_lost(
    db: Database, registry: RegistryService, admin: Operator
) -> None:
    sink = Counting(db, fail=2)

    async def main() -> Any:
        recorder = Recorder(sink, lanes=db.lanes, batch=50, interval=0.001)
        await recorder.start()
        for i in range(120):
            recorder.record(_event(i))
        await recorder.flush()
        await recorder.close()
        return recorder.failures

    assert asyncio.run(main()) == 2
    assert _stored(registry, admin) == list(range(120))


def test_an_event_after_close_is_written_directly(
    db: Database, registry: RegistryService, admin: Operator
) -> None:
    async def main() -> None:
        recorder = Recorder(Counting(db), lanes=db.lanes, batch=10, interval=0.01)
        await recorder.start()
        await recorder.close()
        recorder.record(_event(7))  # e.g. a request that outlived the shutdown

    asyncio.run(main())
    assert _stored(registry, admin) == [7]
