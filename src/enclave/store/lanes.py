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
"""

from __future__ import annotations

import asyncio
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


class WriteLanes:
    """A small priority thread pool. ``await lanes.run(Urgency.REQUEST, fn, *args)``."""

    def __init__(self, workers: int = 1, *, name: str = "enclave-write") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
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
    """One writer thread for SQLite (one write lock), a few for PostgreSQL."""
    return WriteLanes(1 if url.startswith("sqlite") else 4)


__all__ = ["Urgency", "WriteLanes", "lanes_for"]
