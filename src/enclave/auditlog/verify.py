"""`enclave audit verify`: recompute the whole tree from the stored events and check it
against every signed checkpoint (the log's own and any a user kept).

The recomputation trusts nothing stored except the events rows: leaf hashes are rehashed
from the rendered entries, tile hashes are rebuilt from them, and each checkpoint's root
is recomputed at its size. The stored leaf and tile hashes are compared on the way, which
is what names the first bad index exactly when an entry was edited, deleted or moved. When
an insider rewrote the stored hashes too, only the signed roots disagree, and the bad leaf
is narrowed to the range between the last checkpoint that still matches and the first
that does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from enclave.auditlog.interface import (
    TILE_HEIGHT,
    TILE_WIDTH,
    AuditLogError,
    LeafRow,
    LogReader,
    Problem,
    ProblemKind,
    VerifyReport,
)
from enclave.auditlog.merkle import EMPTY_ROOT, node_hash, parents, range_hash, subtree_root
from enclave.auditlog.note import Checkpoint, Verifier, open_checkpoint

CHUNK = 1 << 16  # leaves read per query: a multiple of the tile width
MAX_PROBLEMS = 50


@dataclass(frozen=True, slots=True)
class _Target:
    label: str
    checkpoint: Checkpoint


class _Tree:
    """Recomputed hashes: all level-8 nodes so far plus the current chunk's leaves."""

    def __init__(self) -> None:
        self.level8: list[bytes] = []
        self.chunk_start = 0
        self.chunk: list[bytes] = []
        self._memo: dict[tuple[int, int], bytes] = {}

    def complete(self, level: int, index: int) -> bytes:
        if level < TILE_HEIGHT:
            first = (index << level) - self.chunk_start
            return subtree_root(self.chunk[first : first + (1 << level)])
        if level == TILE_HEIGHT:
            return self.level8[index]
        key = (level, index)
        found = self._memo.get(key)
        if found is None:
            found = node_hash(
                self.complete(level - 1, 2 * index), self.complete(level - 1, 2 * index + 1)
            )
            self._memo[key] = found
        return found

    def root(self, size: int) -> bytes:
        return EMPTY_ROOT if size == 0 else range_hash(self.complete, 0, size)


class _Verification:
    def __init__(self, reader: LogReader, verifier: Verifier) -> None:
        self.reader = reader
        self.verifier = verifier
        self.problems: list[Problem] = []
        self.targets: list[_Target] = []
        self.tree = _Tree()
        self.size = 0  # leaves recomputed so far
        self.last_seq = 0
        self.broken = False  # a leaf row is missing: nothing after it can be placed
        self.matched: set[int] = {0}  # checkpoint sizes whose signed root was recomputed

    def problem(
        self, kind: ProblemKind, index: int | None, detail: str, exact: bool = True
    ) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(kind=kind, index=index, detail=detail, exact=exact))

    def add_checkpoint(self, label: str, note: str, size: int | None, root: bytes | None) -> None:
        try:
            checkpoint = open_checkpoint(note, self.verifier)
        except AuditLogError as exc:
            self.problem(ProblemKind.BAD_CHECKPOINT, None, f"{label}: {exc.message}")
            return
        if size is not None and (checkpoint.size, checkpoint.root) != (size, root):
            self.problem(
                ProblemKind.BAD_CHECKPOINT,
                None,
                f"{label}: the stored size or root differs from the signed note",
            )
        self.targets.append(_Target(label=label, checkpoint=checkpoint))

    # -- leaves ---------------------------------------------------------------------------

    def scan(self) -> None:
        while not self.broken:
            rows = self.reader.read_leaves(self.size, CHUNK)
            if not rows:
                break
            hashes = self._check_rows(rows)
            self._absorb(hashes)

    def _check_rows(self, rows: list[LeafRow]) -> list[bytes]:
        indices, seqs, stored, entries = zip(*rows, strict=True)
        sha = hashlib.sha256
        fast = (
            indices[0] == self.size
            and indices[-1] == self.size + len(rows) - 1
            and None not in entries
            and seqs[0] > self.last_seq
            and all(a < b for a, b in zip(seqs, seqs[1:], strict=False))
        )
        if fast:
            hashes = [sha(b"\x00" + e).digest() for e in entries]
            if hashes == list(stored):
                self.last_seq = seqs[-1]
                return hashes
        return self._check_slowly(rows)

    def _check_slowly(self, rows: list[LeafRow]) -> list[bytes]:
        hashes: list[bytes] = []
        for index, seq, stored, entry in rows:
            at = self.size + len(hashes)
            if index != at:
                self.problem(
                    ProblemKind.ENTRY_MISSING, at, f"leaves {at} to {index - 1} are missing"
                )
                self.broken = True
                break
            if entry is None:
                self.problem(
                    ProblemKind.ENTRY_MISSING, index, f"the events row (seq {seq}) is gone"
                )
                recomputed = stored
            else:
                recomputed = hashlib.sha256(b"\x00" + entry).digest()
                if recomputed != stored:
                    self.problem(
                        ProblemKind.ENTRY_CHANGED,
                        index,
                        f"the events row (seq {seq}) no longer matches its leaf hash",
                    )
            if seq <= self.last_seq:
                self.problem(
                    ProblemKind.REORDERED,
                    index,
                    f"event seq {seq} follows seq {self.last_seq}: rows moved",
                )
            self.last_seq = max(self.last_seq, seq)
            hashes.append(recomputed)
        return hashes

    def _absorb(self, hashes: list[bytes]) -> None:
        tree = self.tree
        tree.chunk_start, tree.chunk = self.size, hashes
        full = len(hashes) // TILE_WIDTH * TILE_WIDTH
        row = hashes[:full]
        for _ in range(TILE_HEIGHT):
            row = parents(row) if row else row
        first_group = self.size // TILE_WIDTH
        self._compare(TILE_HEIGHT, first_group, row)
        tree.level8.extend(row)
        end = self.size + len(hashes)
        for target in self.targets:
            size = target.checkpoint.size
            if self.size < size <= end:
                self._check_root(target, tree.root(size))
        self.size = end

    def _compare(self, level: int, first: int, computed: Sequence[bytes]) -> None:
        if not computed:
            return
        stored = self.reader.read_hashes(level, first, first + len(computed))
        if stored == list(computed):
            return
        for offset, value in enumerate(computed):
            if offset >= len(stored) or stored[offset] != value:
                span = 1 << level
                start = (first + offset) * span
                self.problem(
                    ProblemKind.TREE_CHANGED,
                    start,
                    f"stored level-{level} hash of leaves [{start}, {start + span}) is wrong",
                    exact=False,
                )
                return

    # -- checkpoints ----------------------------------------------------------------------

    def _check_root(self, target: _Target, root: bytes) -> None:
        size = target.checkpoint.size
        if root == target.checkpoint.root:
            self.matched.add(size)
            return
        # Targets are checked in size order, so every smaller one has been decided.
        low = max(m for m in self.matched if m < size)
        self.problem(
            ProblemKind.ROOT_MISMATCH,
            low,
            f"{target.label}: its root does not match the stored entries; a leaf in "
            f"[{low}, {size}) changed after it was signed",
            exact=False,
        )

    def finish(self) -> None:
        # Levels 16, 24, ...: rebuilt from the recomputed level 8 and compared.
        row, level = self.tree.level8, TILE_HEIGHT
        while len(row) >= TILE_WIDTH:
            full = len(row) // TILE_WIDTH * TILE_WIDTH
            row = row[:full]
            for _ in range(TILE_HEIGHT):
                row = parents(row)
            level += TILE_HEIGHT
            self._compare(level, 0, row)
        for target in self.targets:
            size = target.checkpoint.size
            if size == 0:
                self._check_root(target, EMPTY_ROOT)
            elif size > self.size and not self.broken:
                self.problem(
                    ProblemKind.TRUNCATED,
                    self.size,
                    f"{target.label}: commits to {size} leaves but storage has "
                    f"{self.size}; leaves from {self.size} on were removed",
                )


def verify_log(
    reader: LogReader, verifier: Verifier, *, supplied: Sequence[tuple[str, str]] = ()
) -> VerifyReport:
    """Recompute the log from ``reader`` (one snapshot) and check it against the stored
    checkpoints and the ``supplied`` (label, signed note) pairs."""
    run = _Verification(reader, verifier)
    for stored in reader.checkpoints():
        run.add_checkpoint(
            f"stored checkpoint of size {stored.size}", stored.note, stored.size, stored.root
        )
    for label, note in supplied:
        run.add_checkpoint(f"checkpoint {label}", note, None, None)
    run.targets.sort(key=lambda t: t.checkpoint.size)
    run.scan()
    run.finish()
    problems = sorted(run.problems, key=lambda p: (not p.exact, -1 if p.index is None else p.index))
    return VerifyReport(
        tree_size=run.size,
        checked=tuple(sorted({t.checkpoint.size for t in run.targets})),
        problems=tuple(problems),
    )


__all__ = ["verify_log"]
