"""The append-only event record shared by every domain."""

from enclave.events.interface import (
    Event,
    EventReader,
    EventWriter,
    StoredEvent,
    canonical_json,
    content_hash,
)

__all__ = [
    "Event",
    "EventReader",
    "EventWriter",
    "StoredEvent",
    "canonical_json",
    "content_hash",
]
