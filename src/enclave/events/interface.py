"""Events: the append-only record of every state change and decision.

Every service appends an :class:`Event` in the same transaction as the change it
describes, so that a change without its event cannot be committed. The tamper-evident
audit log (``enclave.auditlog``) sequences these rows into its Merkle tree; this module
is deliberately small so that it can take them over without changing any producer.

Threat-model note: ``data`` must never carry secrets or sensitive bodies. Producers put
hashes of bodies there (see :func:`content_hash`), never API keys or tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # dotted, e.g. "org.created", "key.revoked", "gateway.request"
    actor: str  # "operator:<id>", "key:<id>", "system"
    subject: str  # the id of the thing changed, e.g. "org_…"
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event: Event


class EventWriter(Protocol):
    def append(self, event: Event) -> int:
        """Append in the caller's transaction; returns the event's sequence number."""
        ...

    def append_many(self, events: Sequence[Event]) -> None: ...


class EventReader(Protocol):
    def list_events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        kind: str | None = None,
        subject: str | None = None,
    ) -> list[StoredEvent]: ...


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Deterministic JSON (sorted keys, no whitespace, UTF-8) for hashing and storage."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)


def content_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


__all__ = [
    "Event",
    "EventReader",
    "EventWriter",
    "StoredEvent",
    "canonical_json",
    "content_hash",
]
