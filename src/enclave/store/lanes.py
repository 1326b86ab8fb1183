"""Write lanes: the threads that run a process's database writes, most urgent first.

The gateway writes from three places: a request's credit reservation (on the request
path: the client waits for it), the settlement after the response (nobody waits) and the
batched event recorder (nobody waits). Run in arbitrary threads, they contend for
SQLite's single write lock, and SQLite's busy handler backs off by sleeping, at least
1 ms at a time: measured here, that sleep was most of what the ledger added to a
request. Run through these lanes instead, a process's writes to SQLite go through one
thread (no contention inside the process: another process, such as the CLI, is still
handled by the busy timeout), and a queued reservation goes before queued settlements
and event batches.

PostgreSQL takes concurrent writers (row locks), so it gets several threads; the
priority order still holds for what waits in the queue.

On SQLite a short write is first tried right here, on the caller's thread (the event
loop), and goes to the lane only if it would have to wait for the write lock
(:meth:`WriteLanes.attempt`). A write in another thread holds the interpreter lock between
its statements while the loop serves requests, and each statement hands that lock back
and forth: measured under `make bench-gateway`, a reservation cost 190 us of CPU alone
and 450-630 us in the lane thread while requests were served, and the requests waited
for it. On the loop it cannot wait on anything else: the write lock is taken without
waiting (``busy_timeout`` 0 for the BEGIN, else the lane), and with the checkpoints in
the background (store/checkpoints.py) a WAL commit writes to the log without syncing.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from enum import IntEnum
from typing import Any, TypeVar

logger = logging.getLogger("enclave.store.lanes")

T = TypeVar("T")


class Urgency(IntEnum):
    """Lower runs first."""

    REQUEST = 0  # a client is waiting on it (a reservation)
    AFTER = 1  # follows a response (settle, void, usage checkpoint)
    BACKGROUND = 2  # batches (events)


_Job = tuple[int, int, Callable[[], Any] | None, "Future[Any] | None"]

_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("enclave_inline", default=False)


class WouldWait(Exception):
    """Raised by a store, before it has changed anything, when a write attempted inline
    would have to wait for the database's write lock."""


def inline_attempt() -> bool:
    """True while a write runs inline (:meth:`WriteLanes.attempt`): the store must raise
    WouldWait rather than wait for a lock."""
    return _INLINE.get()


class WriteLanes:
    """A small priority thread pool. ``await lanes.run(Urgency.REQUEST, fn, *args)``."""

    def __init__(
        self, workers: int = 1, *, name: str = "enclave-write", inline: bool = False
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.inline = inline  # attempt() tries the caller's thread first (SQLite)
        self.inlined = 0  # writes attempt() ran inline
        self.deferred = 0  # writes attempt() sent to a lane: they would have waited
        self._name = name
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_started(self) -> None:
        if self._threads:
            return
        with self._lock:
            if self._threads or self._closed:
                return
            for index in range(self.workers):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def submit(
        self, urgency: Urgency, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> Future[T]:
        if self._closed:
            raise RuntimeError("the write lanes are closed")
        self._ensure_started()
        future: Future[T] = Future()
        self._queue.put((int(urgency), next(self._order), lambda: fn(*args, **kwargs), future))
        return future

    async def run(self, urgency: Urgency, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await asyncio.wrap_future(self.submit(urgency, fn, *args, **kwargs))

    async def attempt(
        self, urgency: Urgency, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> T:
        """Run ``fn`` here and now if it can take the database's write lock without
        waiting (``fn`` must write through a store that honours :func:`inline_attempt`),
        otherwise in a lane like :meth:`run`."""
        if self.inline:
            token = _INLINE.set(True)
            try:
                result = fn(*args, **kwargs)
            except WouldWait:
                self.deferred += 1
            else:
                self.inlined += 1
                return result
            finally:
                _INLINE.reset(token)
        return await self.run(urgency, fn, *args, **kwargs)

    def _work(self) -> None:
        while True:
            _, _, job, future = self._queue.get()
            if job is None or future is None:
                return  # close(): one sentinel per thread, queued after everything else
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = job()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Finish what is queued, then stop the threads (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            # After every queued job whatever its urgency: a sentinel sorts last.
            self._queue.put((len(Urgency) + 1, next(self._order), None, None))
        for thread in threads:
            thread.join()


def lanes_for(url: str) -> WriteLanes:
    """SQLite: one writer thread (one write lock) and writes inline when the lock is free;
    PostgreSQL: a few threads (its writes are network round trips)."""
    sqlite = url.startswith("sqlite")
    return WriteLanes(1 if sqlite else 4, inline=sqlite)


__all__ = ["Urgency", "WouldWait", "WriteLanes", "inline_attempt", "lanes_for"]
