"""Failed sign-ins per client address: past the limit, sign-in refuses without checking
the password (no argon2 work, no event) until the window has moved on.

Per process and in memory: several gateway processes each count their own, and a
restart forgets. It bounds guessing and the cost an anonymous client can impose (each
check costs an argon2 verification, ~0.1-0.5 s of CPU); it is not an account lockout, so
nobody can lock an operator out by failing with their name.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from enclave.console.interface import SignInThrottled


class FailureThrottle:
    def __init__(
        self,
        *,
        limit: int = 10,
        window: timedelta = timedelta(minutes=10),
        max_sources: int = 10_000,
    ) -> None:
        self._limit = limit
        self._window = window
        self._max_sources = max_sources
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()  # routes run in the threadpool

    def check(self, source: str, now: datetime) -> None:
        with self._lock:
            recent = self._recent(source, now)
            if recent is not None and len(recent) >= self._limit:
                retry = recent[0] + self._window - now
                raise SignInThrottled(
                    "too many failed sign-ins from this address",
                    hint=f"try again in {max(1, int(retry.total_seconds() // 60) + 1)} minutes",
                )

    def failed(self, source: str, now: datetime) -> None:
        with self._lock:
            if source not in self._failures and len(self._failures) >= self._max_sources:
                self._prune(now)
                if len(self._failures) >= self._max_sources:
                    # Full of live entries: forget the oldest source rather than grow.
                    self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(source, deque()).append(now)

    def _recent(self, source: str, now: datetime) -> deque[datetime] | None:
        times = self._failures.get(source)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[source]
            return None
        return times

    def _prune(self, now: datetime) -> None:
        for source in list(self._failures):
            self._recent(source, now)


__all__ = ["FailureThrottle"]
