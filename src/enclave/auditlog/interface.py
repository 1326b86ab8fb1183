"""The audit log's vocabulary: errors, values and the store Protocols it needs.

The log's entries are the rows of the append-only ``events`` table (enclave.events),
each rendered by :func:`entry_bytes`. The store assigns them consecutive leaf indices in
``seq`` order, one sequencer at a time, and keeps the tree as C2SP tlog-tiles hashes:
leaf hashes (level 0) and the complete subtree hashes of every eighth level (8, 16, ...).

Threat model: anyone with write access to the database (an insider, a compromised
process, the model itself acting through a tool) can change or delete rows. They cannot
forge the Ed25519 signature of a checkpoint without the key file, and they cannot make a
rewritten log consistent with a checkpoint a verifier or witness kept from before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import orjson

from enclave.errors import ConfigError, Conflict, EnclaveError, InputError, NotFound

TILE_HEIGHT = 8  # C2SP tlog-tiles: every tile spans eight levels of the tree ...
TILE_WIDTH = 1 << TILE_HEIGHT  # ... and holds at most 256 hashes.
MAX_ENTRY = 0xFFFF  # tlog-tiles entry bundles prefix each entry with a big-endian uint16.


class AuditLogError(EnclaveError):
    code = "audit_log_error"


class LogInputError(AuditLogError, InputError):
    """Malformed input: a note, checkpoint, proof, key or an index outside the tree."""

    code = "audit_log_invalid_input"


class VerificationFailed(AuditLogError, Conflict):
    """A proof, signature or checkpoint does not verify, or the stored log contradicts one."""

    code = "audit_log_verification_failed"


class LogNotFound(AuditLogError, NotFound):
    code = "audit_log_not_found"


class SigningKeyError(AuditLogError, ConfigError):
    code = "audit_log_key_invalid"


# -- entries ------------------------------------------------------------------------------


def entry_bytes(*, seq: int, at: datetime, kind: str, actor: str, subject: str, data: str) -> bytes:
    """The log entry of one events row: canonical JSON (enclave.events.canonical_json).

    ``data`` is the row's stored canonical JSON text and is embedded byte for byte, so
    any change to the stored row changes the entry. The same row renders to the same bytes
    on SQLite and PostgreSQL (``at`` is normalised to UTC with a ``Z`` suffix).
    """
    body = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "actor": actor,
        "subject": subject,
        "data": orjson.Fragment(data),
    }
    entry = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)
    if len(entry) <= MAX_ENTRY:
        return entry
    # An entry bundle cannot carry more than 65535 bytes per entry (C2SP tlog-tiles), so
    # an oversized event is logged as a digest of its full rendering, still reproducible.
    stub = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "oversize": True,
        "sha256": hashlib.sha256(entry).hexdigest(),
    }
    return orjson.dumps(stub, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)


# -- values -------------------------------------------------------------------------------

# (leaf index, event seq, stored leaf hash, entry rendered from the events row or None
# when that row is gone). Plain tuples: verify reads millions of them.
LeafRow = tuple[int, int, bytes, bytes | None]


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str  # the signed note exactly as signed
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    entry: bytes
    path: tuple[bytes, ...]
    checkpoint: str | None = None  # signed note of tree_size, when the log signed one


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: tuple[bytes, ...]
    checkpoint: str | None = None  # signed note of new_size, when the log signed one


@dataclass(frozen=True, slots=True)
class Integration:
    integrated: int
    tree_size: int
    checkpoint: StoredCheckpoint | None


class ProblemKind(StrEnum):
    ENTRY_CHANGED = "entry_changed"  # the events row no longer renders to the leaf
    ENTRY_MISSING = "entry_missing"  # a leaf or its events row is gone
    REORDERED = "reordered"  # leaves no longer follow event order
    TREE_CHANGED = "tree_changed"  # stored subtree hashes disagree with the leaves
    TRUNCATED = "truncated"  # fewer leaves than a checkpoint commits to
    ROOT_MISMATCH = "root_mismatch"  # recomputed root differs from a signed root
    BAD_CHECKPOINT = "bad_checkpoint"  # unparsable, forged or foreign signature


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    index: int | None  # first leaf index concerned, when known
    detail: str
    exact: bool = True  # False: the bad leaf lies somewhere in [index, detail's bound)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    tree_size: int  # leaves recomputed from storage
    checked: tuple[int, ...]  # tree sizes of the checkpoints checked
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        """The first leaf named exactly; else the start of the earliest suspect range."""
        exact = [p.index for p in self.problems if p.index is not None and p.exact]
        if exact:
            return min(exact)
        ranges = [p.index for p in self.problems if p.index is not None]
        return min(ranges) if ranges else None


# -- store Protocols ----------------------------------------------------------------------


class TileSource(Protocol):
    def read_hashes(self, level: int, start: int, end: int) -> list[bytes]:
        """Stored hashes of tree ``level`` (0 or a multiple of 8) at [start, end), in order;
        fewer than asked for when some are missing."""
        ...


class LogReader(TileSource, Protocol):
    def leaf_count(self) -> int:
        """Tree size as stored: highest leaf index + 1 (0 when empty)."""
        ...

    def last_sequenced_seq(self) -> int:
        """The events seq of the highest leaf (0 when empty)."""
        ...

    def read_leaves(self, start: int, limit: int) -> list[LeafRow]:
        """Leaves with index >= start in index order, joined to their events rows."""
        ...

    def read_entries(self, start: int, end: int) -> list[bytes]:
        """The entries of leaves [start, end) (for entry bundles and proofs)."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest tree size first."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def checkpoint_for(self, size: int) -> StoredCheckpoint | None: ...


class LogWriter(LogReader, Protocol):
    def pending_entries(self, *, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(seq, entry) of events after ``after_seq`` that may be sequenced now, in seq
        order: every event with a smaller seq is committed or rolled back for good."""
        ...

    def append_leaves(self, first_index: int, leaves: Sequence[tuple[int, bytes]]) -> None:
        """Insert leaves (seq, leaf hash) at consecutive indices from ``first_index``."""
        ...

    def append_hashes(self, level: int, first_index: int, hashes: Sequence[bytes]) -> None: ...

    def append_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...


class SignedMemory(Protocol):
    """Where the signer remembers, outside the database, the last checkpoint it signed, so
    that deleting every stored checkpoint cannot get a rewritten tree signed."""

    def recall(self) -> str | None: ...

    def remember(self, note: str, size: int) -> None: ...


class LogStore(Protocol):
    def log_reader(self) -> AbstractContextManager[LogReader]:
        """One consistent read snapshot."""
        ...

    def log_sequencer(self) -> AbstractContextManager[LogWriter]:
        """A write transaction that holds the log's lock: one sequencer at a time across
        every process using the database; others wait for it."""
        ...


__all__ = [
    "MAX_ENTRY",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "AuditLogError",
    "ConsistencyProof",
    "InclusionProof",
    "Integration",
    "LeafRow",
    "LogInputError",
    "LogNotFound",
    "LogReader",
    "LogStore",
    "LogWriter",
    "Problem",
    "ProblemKind",
    "SignedMemory",
    "SigningKeyError",
    "StoredCheckpoint",
    "TileSource",
    "VerificationFailed",
    "VerifyReport",
    "entry_bytes",
]
