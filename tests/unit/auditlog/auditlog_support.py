"""Shared by the audit log's unit tests: an in-memory LogStore (a fake of our own Protocol,
for fast property tests of the real service), the shared test vectors' location, and a
plain recursive RFC 9162 reference to compare the optimised code against."""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from enclave.auditlog import StoredCheckpoint
from enclave.auditlog.interface import LeafRow

REPO = Path(__file__).resolve().parents[3]
IN_CI = os.environ.get("CI", "").lower() == "true"


def vectors_dir() -> Path | None:
    """$SHARED_DATA_DIR/merkle-vectors, else ../shared/data/merkle-vectors beside the clone.
    (Not an ENCLAVE_* name: the settings loader refuses ENCLAVE_* variables it does not know.)"""
    roots = [Path(os.environ["SHARED_DATA_DIR"])] if "SHARED_DATA_DIR" in os.environ else []
    roots.append(REPO.parent / "shared" / "data")
    for root in roots:
        if (root / "merkle-vectors" / "README.md").exists():
            return root / "merkle-vectors"
    return None


def require_vectors() -> Path:
    found = vectors_dir()
    if found is None:
        message = (
            f"merkle test vectors not found under {REPO.parent / 'shared' / 'data'} "
            "(set SHARED_DATA_DIR to the shared/data directory)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


class MemoryLog:
    """LogStore + LogWriter in memory. A sequencer block that raises rolls back, as the
    SQL store's transaction does."""

    def __init__(self) -> None:
        self.events: list[tuple[int, bytes]] = []  # (seq, entry)
        self.leaves: list[tuple[int, bytes]] = []  # (seq, leaf hash) by index
        self.hashes: dict[int, list[bytes]] = {}
        self.checkpoint_rows: dict[int, StoredCheckpoint] = {}

    def add(self, entries: Sequence[bytes]) -> None:
        seq = self.events[-1][0] if self.events else 0
        for entry in entries:
            seq += 1
            self.events.append((seq, entry))

    @contextmanager
    def log_reader(self) -> Iterator[MemoryLog]:
        yield self

    @contextmanager
    def log_sequencer(self) -> Iterator[MemoryLog]:
        saved = copy.deepcopy((self.leaves, self.hashes, self.checkpoint_rows))
        try:
            yield self
        except BaseException:
            self.leaves, self.hashes, self.checkpoint_rows = saved
            raise

    # LogReader
    def leaf_count(self) -> int:
        return len(self.leaves)

    def last_sequenced_seq(self) -> int:
        return self.leaves[-1][0] if self.leaves else 0

    def read_hashes(self, level: int, start: int, end: int) -> list[bytes]:
        row = [h for _, h in self.leaves] if level == 0 else self.hashes.get(level, [])
        return row[start:end]

    def _entry(self, seq: int) -> bytes | None:
        return next((e for s, e in self.events if s == seq), None)

    def read_leaves(self, start: int, limit: int) -> list[LeafRow]:
        return [
            (i, seq, h, self._entry(seq))
            for i, (seq, h) in enumerate(self.leaves[start : start + limit], start)
        ]

    def read_entries(self, start: int, end: int) -> list[bytes]:
        found = [self._entry(seq) for seq, _ in self.leaves[start:end]]
        return [e for e in found if e is not None]

    def checkpoints(self) -> list[StoredCheckpoint]:
        return [self.checkpoint_rows[s] for s in sorted(self.checkpoint_rows)]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.checkpoint_rows[max(self.checkpoint_rows)] if self.checkpoint_rows else None

    def checkpoint_for(self, size: int) -> StoredCheckpoint | None:
        return self.checkpoint_rows.get(size)

    # LogWriter
    def pending_entries(self, *, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        return [(s, e) for s, e in self.events if s > after_seq][:limit]

    def append_leaves(self, first_index: int, leaves: Sequence[tuple[int, bytes]]) -> None:
        assert first_index == len(self.leaves)
        self.leaves.extend(leaves)

    def append_hashes(self, level: int, first_index: int, hashes: Sequence[bytes]) -> None:
        row = self.hashes.setdefault(level, [])
        assert first_index == len(row)
        row.extend(hashes)

    def append_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        assert checkpoint.size not in self.checkpoint_rows
        self.checkpoint_rows[checkpoint.size] = checkpoint


# -- the RFC 9162 §2.1 definitions, written recursively as the RFC states them ------------


def ref_leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes*."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]
