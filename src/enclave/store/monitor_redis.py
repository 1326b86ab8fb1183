"""Session state shared through Redis, so several gateway processes see one session.

Each session's state is one small JSON value (bounded: see state.py) under
``enclave:monitor:session:<id>``. An update is an optimistic transaction (Redis
"Transactions", WATCH/MULTI/EXEC): read, apply, write only if nobody wrote in between,
else retry. Two processes folding events into one session therefore never lose an
update; with the state O(1) in size each round trip is O(1) too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis

from enclave.errors import StoreError
from enclave.monitor.state import SessionState

T = TypeVar("T")

PREFIX = "enclave:monitor:session:"
MAX_RETRIES = 64


class RedisStates:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int = 7 * 86_400) -> None:
        self._client = client
        self._ttl = ttl_seconds

    @classmethod
    def from_url(cls, url: str, *, ttl_seconds: int = 7 * 86_400) -> RedisStates:
        return cls(redis.Redis.from_url(url), ttl_seconds=ttl_seconds)

    def apply(self, key: str, fn: Callable[[SessionState], T]) -> T:
        name = PREFIX + key
        try:
            with self._client.pipeline() as pipe:
                for _attempt in range(MAX_RETRIES):
                    try:
                        pipe.watch(name)  # type: ignore[no-untyped-call]
                        raw: Any = pipe.get(name)
                        state = SessionState.from_json(raw)
                        result = fn(state)
                        pipe.multi()
                        pipe.set(name, state.to_json(), ex=self._ttl)
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue  # another process updated the session: fold again
        except redis.RedisError as exc:
            raise StoreError(f"session state unavailable (Redis): {exc}") from None
        raise StoreError(f"session {key}: {MAX_RETRIES} concurrent updates in a row; giving up")

    def peek(self, key: str) -> SessionState:
        try:
            raw: Any = self._client.get(PREFIX + key)
        except redis.RedisError as exc:
            raise StoreError(f"session state unavailable (Redis): {exc}") from None
        return SessionState.from_json(raw)

    def drop(self, key: str) -> None:
        try:
            self._client.delete(PREFIX + key)
        except redis.RedisError as exc:
            raise StoreError(f"session state unavailable (Redis): {exc}") from None


__all__ = ["RedisStates"]
