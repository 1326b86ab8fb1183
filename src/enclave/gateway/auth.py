"""Client API authentication with a cache that cannot outlive a revocation.

``RegistryService.authenticate`` is the one place that decides whether a key is good; it
costs 188 us p50 on SQLite and 329 us on PostgreSQL (see enclave.store.key_rows), a third
of the gateway's whole 1 ms budget. A time-to-live cache would be fast but would keep
serving a revoked key until it expired, and the registry promises that revocation takes
effect on the next request (issue 2). So every request still reads the key's current
rows, the key and its organisation, in one indexed lookup (6.7 us / 39 us), and the
cache only saves the rest: the principal is reused while those rows are exactly the rows
it was built from. A revocation, suspension, expiry change or change of tier alters a
row, so the next request misses and goes through the registry again, which refuses it.

The same read also catches what a push invalidation (a message to every gateway worker)
would miss: a change made by another process or worker, the CLI included, is seen on the
very next request without any message, and there is no window between commit and
delivery. Time-based validity (key expiry, approval expiry) is re-checked on every hit.

Threat-model note: the cache holds a SHA-256 of each verified secret, never the secret;
a hit requires the presented secret to hash to the same value (constant-time compare).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from enclave.clock import Clock, utcnow
from enclave.registry import CredentialError, Principal, RegistryService, credentials


class KeyRowSource(Protocol):
    def fetch(self, prefix: str) -> tuple[Any, ...] | None:
        """The key's current row joined with its organisation's, or None."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    rows: tuple[Any, ...]
    secret_sha256: bytes
    principal: Principal


class Authenticator:
    def __init__(
        self,
        registry: RegistryService,
        rows: KeyRowSource,
        *,
        clock: Clock = utcnow,
        capacity: int = 10_000,
    ) -> None:
        self._registry = registry
        self._rows = rows
        self._clock = clock
        self._capacity = capacity
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def authenticate(self, secret: str) -> Principal:
        prefix = credentials.parse(secret, "enc")
        rows = self._rows.fetch(prefix)
        if rows is None:
            raise CredentialError("invalid API key")
        entry = self._cache.get(prefix)
        sha = hashlib.sha256(secret.encode("ascii")).digest()
        if (
            entry is not None
            and entry.rows == rows
            and hmac.compare_digest(entry.secret_sha256, sha)
        ):
            now = self._clock()
            principal = entry.principal
            if principal.key.state(now) == "active" and principal.org.is_active(now):
                self.hits += 1
                self._cache.move_to_end(prefix)
                return principal
        # Miss, changed rows, another secret or lapsed validity: the registry decides
        # (and raises the precise CredentialError).
        self.misses += 1
        self._cache.pop(prefix, None)
        principal = self._registry.authenticate(secret)
        # `rows` were read before the registry's own read: if they changed in between,
        # the next request sees different rows and misses again. A principal is never
        # kept with rows newer than itself.
        self._cache[prefix] = _Entry(rows, sha, principal)
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return principal


__all__ = ["Authenticator", "KeyRowSource"]
