"""Batched event recording, off the request path.

A request only appends its event to an in-memory queue (a deque append, no I/O). A
background task writes what has queued up in batches, each batch in one write
transaction through the store's ``append_many``, through the database's write lanes
(on SQLite on the loop itself when the write lock is free: store/lanes.py), so that the
event loop never waits on the database. At the default settings a busy gateway writes one
transaction every 50 ms instead of one per request.

Nothing is lost on a clean shutdown: :meth:`Recorder.close` writes everything queued
before it returns (``enclave serve`` calls it from the ASGI lifespan shutdown, after
uvicorn has finished the requests in flight). A failed write keeps its batch at the head
of the queue and is retried with backoff; a crash loses at most what was queued, which
is why the interval is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from enclave.errors import StoreError
from enclave.events import Event, EventWriter
from enclave.store.lanes import Urgency, WriteLanes

logger = logging.getLogger("enclave.gateway.recorder")

_MAX_BACKOFF = 5.0
# A batch up to this size may be written inline on the event loop (~5 us an event);
# larger ones, and batches with bodies to store as files, go to the write lane.
_INLINE_EVENTS = 128
_CLOSE_ATTEMPTS = 5


_Queued = tuple[Event, tuple[tuple[str, bytes], ...]]


class EventSink(Protocol):
    def unit(self) -> AbstractContextManager[EventWriter]:
        """One write transaction; attempted inline, it raises store.lanes.WouldWait
        instead of waiting for a lock (as the SQL stores do)."""
        ...


class Recorder:
    def __init__(
        self,
        sink: EventSink,
        *,
        batch: int = 500,
        interval: float = 0.05,
        lanes: WriteLanes,
        bodies_dir: Path | None = None,
    ) -> None:
        self._sink = sink
        # The database's write lanes, behind reservations and settlements (store/lanes.py).
        self._lanes = lanes
        self._batch = batch
        self._interval = interval
        self._bodies_dir = bodies_dir
        self._queue: deque[_Queued] = deque()
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._progress: asyncio.Condition | None = None
        self.enqueued = 0
        self.written = 0
        self.failures = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._progress = asyncio.Condition()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="enclave-recorder")

    def record(self, event: Event, bodies: Sequence[tuple[str, bytes]] = ()) -> None:
        """Queue one event (and, when body storage is on, its bodies by content hash)."""
        if self._closing and self._task is None:
            # After close() (a request that outlived the shutdown): write it now, blocking,
            # rather than lose it.
            self._write([(event, tuple(bodies))])
            self.enqueued += 1
            self.written += 1
            return
        self._queue.append((event, tuple(bodies)))
        self.enqueued += 1
        if self._wake is not None and len(self._queue) == 1:
            self._wake.set()

    async def wait_written(self, count: int) -> None:
        """Wait until at least ``count`` events are in the database (tests, shutdown)."""
        assert self._progress is not None, "recorder not started"
        async with self._progress:
            await self._progress.wait_for(lambda: self.written >= count)

    async def flush(self) -> None:
        """Write everything queued so far."""
        target = self.enqueued
        if self._wake is not None:
            self._wake.set()
        await self.wait_written(target)

    async def close(self) -> None:
        """Write everything queued, then stop."""
        if self._task is None:
            return
        self._closing = True
        assert self._wake is not None and self._stop is not None
        self._stop.set()
        self._wake.set()
        await self._task
        self._task = None

    async def _offload(self, write: Callable[[list[_Queued]], None], batch: list[_Queued]) -> None:
        if self._bodies_dir is None and len(batch) <= _INLINE_EVENTS:
            # On the loop if the write lock is free (store/lanes.py, WriteLanes.attempt).
            await self._lanes.attempt(Urgency.BACKGROUND, write, batch)
        else:
            await self._lanes.run(Urgency.BACKGROUND, write, batch)

    async def _run(self) -> None:
        assert self._wake is not None
        backoff = 0.1
        attempts_after_close = 0
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if not self._closing and len(self._queue) < self._batch:
                    # Let a batch gather: one transaction for everything in the window;
                    # close() cuts the window short.
                    assert self._stop is not None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self._interval)
                continue  # re-check: woken by close() with nothing queued
            count = min(len(self._queue), self._batch)
            batch = [self._queue.popleft() for _ in range(count)]
            try:
                await self._offload(self._write, batch)
            except StoreError as exc:
                self.failures += 1
                self._queue.extendleft(reversed(batch))
                if self._closing:
                    attempts_after_close += 1
                    if attempts_after_close >= _CLOSE_ATTEMPTS:
                        logger.error(
                            "shutting down with %d events unwritten: %s",
                            len(self._queue),
                            exc.message,
                        )
                        return
                logger.warning("event batch not written (%s); retrying", exc.message)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            except Exception:
                # Not an outage (those are StoreErrors) but a batch the database refuses:
                # write the events one by one so that one bad event cannot block the rest.
                logger.exception("event batch refused; writing its events one by one")
                await self._offload(self._write_each, batch)
            backoff = 0.1
            self.written += count
            assert self._progress is not None
            async with self._progress:
                self._progress.notify_all()

    def _write(self, batch: list[_Queued]) -> None:
        if self._bodies_dir is not None:
            for _, bodies in batch:
                for digest, body in bodies:
                    self._store_body(digest, body)
        with self._sink.unit() as unit:
            unit.append_many([event for event, _ in batch])

    def _write_each(self, batch: list[_Queued]) -> None:
        for item in batch:
            try:
                self._write([item])
            except Exception:
                self.dropped += 1
                event = item[0]
                logger.exception("event dropped: %s %s %s", event.kind, event.actor, event.subject)

    def _store_body(self, digest: str, body: bytes) -> None:
        """Content-addressed: bodies/sha256/<hex>, written once, mode 0600."""
        assert self._bodies_dir is not None
        hexpart = digest.removeprefix("sha256:")
        path = self._bodies_dir / "sha256" / hexpart[:2] / hexpart
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            os.replace(temp, path)
        except OSError as exc:
            raise StoreError(f"cannot store body {digest}: {exc.strerror}") from None


__all__ = ["EventSink", "Recorder"]
