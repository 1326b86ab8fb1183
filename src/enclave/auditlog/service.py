"""The audit log service: sequencing and integrating events, signing checkpoints, and
serving tiles and proofs.

Integration (the sequencer and integrator in one step, as in Tessera): under the store's
lock, take the events not yet in the log in ``seq`` order, give them the next consecutive
leaf indices, store their leaf hashes and every tile hash they complete, and sign a
checkpoint for the new size in the same transaction. Before signing, the previous stored
checkpoint is verified with the log's key and a consistency proof to the new tree is
checked against it: the log never signs a tree inconsistent with one it signed before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from enclave.auditlog.interface import (
    TILE_HEIGHT,
    TILE_WIDTH,
    ConsistencyProof,
    InclusionProof,
    Integration,
    LogInputError,
    LogNotFound,
    LogReader,
    LogStore,
    LogWriter,
    SignedMemory,
    SigningKeyError,
    StoredCheckpoint,
    VerificationFailed,
    VerifyReport,
)
from enclave.auditlog.merkle import (
    consistency_path,
    inclusion_path,
    leaf_hash,
    subtree_root,
    tree_root,
    verify_consistency,
)
from enclave.auditlog.note import Checkpoint, Signer, Verifier, open_checkpoint, sign_note
from enclave.auditlog.tiles import MAX_LEVEL, TiledTree, encode_bundle, tile_width
from enclave.auditlog.verify import verify_log
from enclave.clock import Clock, utcnow
from enclave.errors import EnclaveError

logger = logging.getLogger("enclave.auditlog")

# Entries per transaction. On SQLite every writer waits while a batch commits, so a batch
# is kept to tens of milliseconds (4,096 entries take about 60 ms here; see
# benchmarks/auditlog.py); larger batches raise throughput by only a few per cent.
DEFAULT_BATCH = 4096


class AuditLog:
    """The log over a store. ``signer`` is needed to integrate, a verifier (the signer's,
    or ``verifier`` alone for an auditor without the key) to verify; serving needs neither."""

    def __init__(
        self,
        *,
        store: LogStore,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
        memory: SignedMemory | None = None,
        clock: Clock = utcnow,
    ) -> None:
        if signer is not None and verifier is not None and signer.verifier != verifier:
            raise SigningKeyError("the signing key does not match the log's verifier key")
        self._store = store
        self._signer = signer
        self._memory = memory
        self._verifier = verifier or (signer.verifier if signer is not None else None)
        self._clock = clock

    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            raise SigningKeyError(
                "no log verifier key given",
                hint="pass the log's vkey (`enclave audit export-key` prints it)",
            )
        return self._verifier

    # -- integration --------------------------------------------------------------------

    def integrate(self, *, batch: int = DEFAULT_BATCH, limit: int | None = None) -> Integration:
        """Integrate pending events, one signed checkpoint per batch; returns the totals."""
        if batch < 1:
            raise LogInputError("batch must be at least 1")
        total, size, last = 0, 0, None
        while limit is None or total < limit:
            step = batch if limit is None else min(batch, limit - total)
            with self._store.log_sequencer() as writer:
                done, size, checkpoint = self._integrate_batch(writer, step)
            if checkpoint is not None and self._memory is not None:
                self._memory.remember(checkpoint.note, checkpoint.size)  # once committed
            total += done
            last = checkpoint or last
            if done < step:
                break
        return Integration(integrated=total, tree_size=size, checkpoint=last)

    def _integrate_batch(
        self, writer: LogWriter, batch: int
    ) -> tuple[int, int, StoredCheckpoint | None]:
        if self._signer is None:
            raise SigningKeyError(
                "this process has no log signing key, so it cannot integrate",
                hint="integrate with `enclave audit integrate` where the key file is readable",
            )
        size = writer.leaf_count()
        latest = writer.latest_checkpoint()
        pending = writer.pending_entries(after_seq=writer.last_sequenced_seq(), limit=batch)
        if not pending:
            if latest is None or latest.size != size:
                tree = TiledTree(writer, size)
                return 0, size, self._sign(writer, tree, latest, tree_root(tree.complete, size))
            return 0, size, None
        hashes = [leaf_hash(entry) for _, entry in pending]
        writer.append_leaves(size, [(seq, h) for (seq, _), h in zip(pending, hashes, strict=True)])
        _extend_tiles(writer, size, hashes)
        new_size = size + len(hashes)
        tree = TiledTree(writer, new_size)
        checkpoint = self._sign(writer, tree, latest, tree_root(tree.complete, new_size))
        return len(pending), new_size, checkpoint

    def _sign(
        self, writer: LogWriter, tree: TiledTree, latest: StoredCheckpoint | None, root: bytes
    ) -> StoredCheckpoint:
        assert self._signer is not None
        remembered = None if self._memory is None else self._memory.recall()
        if remembered is not None:
            # Checked first: an insider who deleted the stored checkpoints (and rewrote
            # the tree under them) must not get the rewrite signed.
            _require_consistent(tree, _own(remembered, self.verifier, "remembered"), root)
        if latest is not None:
            previous = _own(latest.note, self.verifier, "stored")
            _require_consistent(tree, previous, root)
            if previous.size == tree.size:
                return latest  # the same tree, signed already (e.g. leaves re-sequenced)
        text = Checkpoint(origin=self._signer.name, size=tree.size, root=root).text()
        stored = StoredCheckpoint(
            size=tree.size,
            root=root,
            note=sign_note(text, [self._signer]),
            created_at=self._clock(),
        )
        writer.append_checkpoint(stored)
        return stored

    # -- reading ------------------------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint:
        with self._store.log_reader() as reader:
            latest = reader.latest_checkpoint()
        if latest is None:
            raise LogNotFound("the log has no checkpoint yet", hint="run `enclave audit integrate`")
        return latest

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        with self._store.log_reader() as reader:
            size, note = _signed_size(reader, tree_size)
            if not 0 <= index < size:
                raise LogInputError(f"leaf index {index} is outside the tree of size {size}")
            tree = TiledTree(reader, size)
            path = inclusion_path(tree.complete, index, size)
            entries = reader.read_entries(index, index + 1)
            if not entries:
                raise VerificationFailed(f"the events row of leaf {index} is missing")
            return InclusionProof(
                index=index,
                tree_size=size,
                leaf_hash=tree.complete(0, index),
                entry=entries[0],
                path=tuple(path),
                checkpoint=note,
            )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        with self._store.log_reader() as reader:
            size, note = _signed_size(reader, new_size)
            if not 0 < old_size <= size:
                raise LogInputError(
                    f"no consistency proof from size {old_size} to {size}: "
                    "expected 0 < old size <= new size"
                )
            tree = TiledTree(reader, size)
            return ConsistencyProof(
                old_size=old_size,
                new_size=size,
                old_root=tree_root(tree.complete, old_size),
                new_root=tree_root(tree.complete, size),
                path=tuple(consistency_path(tree.complete, old_size, size)),
                checkpoint=note,
            )

    def verify(self, supplied: Sequence[tuple[str, str]] = ()) -> VerifyReport:
        """Recompute the log from storage; see enclave.auditlog.verify."""
        with self._store.log_reader() as reader:
            return verify_log(reader, self.verifier, supplied=supplied)

    def tile(self, level: int, index: int, width: int = TILE_WIDTH) -> bytes:
        """A tile of the latest checkpoint's tree: full (width 256) or partial."""
        if not 0 <= level <= MAX_LEVEL:
            raise LogInputError(f"tile level {level}: expected 0 to {MAX_LEVEL}")
        with self._store.log_reader() as reader:
            size = _checkpoint_size(reader)
            if width > tile_width(size, level, index):
                raise LogNotFound(f"tile {level}/{index} of width {width} does not exist yet")
            start = index * TILE_WIDTH
            hashes = reader.read_hashes(TILE_HEIGHT * level, start, start + width)
        if len(hashes) != width:
            raise VerificationFailed(f"stored tile {level}/{index} is missing hashes")
        return b"".join(hashes)

    def entry_bundle(self, index: int, width: int = TILE_WIDTH) -> bytes:
        with self._store.log_reader() as reader:
            size = _checkpoint_size(reader)
            if width > tile_width(size, 0, index):
                raise LogNotFound(f"entry bundle {index} of width {width} does not exist yet")
            entries = reader.read_entries(index * TILE_WIDTH, index * TILE_WIDTH + width)
        if len(entries) != width:
            raise VerificationFailed(f"entries of bundle {index} are missing from storage")
        return encode_bundle(entries)


class BackgroundIntegrator:
    """Integrates every ``interval`` seconds on a daemon thread until stopped (used by
    `enclave serve`; each gateway process may run one, the store's lock serialises them)."""

    def __init__(self, log: AuditLog, interval: float) -> None:
        self._log = log
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-integrator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._log.integrate()
            except EnclaveError as exc:
                # Keep serving: a down database comes back, and a refusal to sign is a
                # finding for `enclave audit verify`, reported here on every attempt.
                logger.error("audit log integration failed: %s", exc.diagnostics())


def _extend_tiles(writer: LogWriter, start: int, hashes: Sequence[bytes]) -> None:
    """Store every tile-level hash (levels 8, 16, ...) the new leaves complete."""
    level, row_start, row = 0, start, list(hashes)
    while row:
        group = row_start // TILE_WIDTH
        first = group * TILE_WIDTH
        if first < row_start:  # the right-hand tile was partial: read what it had
            prefix = writer.read_hashes(level, first, row_start)
            if len(prefix) != row_start - first:
                raise VerificationFailed(
                    f"stored tree is missing level-{level} hashes at {first}..{row_start}"
                )
            row = prefix + row
        full = len(row) // TILE_WIDTH
        parents = [subtree_root(row[i * TILE_WIDTH : (i + 1) * TILE_WIDTH]) for i in range(full)]
        if parents:
            writer.append_hashes(level + TILE_HEIGHT, group, parents)
        level, row_start, row = level + TILE_HEIGHT, group, parents


def _own(note: str, verifier: Verifier, where: str) -> Checkpoint:
    try:
        return open_checkpoint(note, verifier)
    except (VerificationFailed, LogInputError) as exc:
        raise VerificationFailed(
            f"refusing to sign: the {where} checkpoint is not one this log signed ({exc.message})",
            hint="run `enclave audit verify` to see what was changed",
        ) from None


def _require_consistent(tree: TiledTree, previous: Checkpoint, root: bytes) -> None:
    if previous.size > tree.size:
        raise VerificationFailed(
            f"refusing to sign size {tree.size}: the log signed size {previous.size} before",
            hint="the log was truncated; run `enclave audit verify`",
        )
    if previous.size == 0:
        return
    path = consistency_path(tree.complete, previous.size, tree.size)
    try:
        verify_consistency(previous.size, tree.size, previous.root, root, path)
    except VerificationFailed as exc:
        raise VerificationFailed(
            f"refusing to sign size {tree.size}: the stored tree is not consistent with the "
            f"checkpoint signed for size {previous.size} ({exc.message})",
            hint="run `enclave audit verify` to find the changed entries",
        ) from None


def _checkpoint_size(reader: LogReader) -> int:
    latest = reader.latest_checkpoint()
    return 0 if latest is None else latest.size


def _signed_size(reader: LogReader, requested: int | None) -> tuple[int, str | None]:
    """The tree size to prove against (default: the latest checkpoint's) and, when the log
    signed a checkpoint of exactly that size, its note."""
    latest = _checkpoint_size(reader)
    size = latest if requested is None else requested
    if not 0 < size <= latest:
        raise LogInputError(
            f"tree size {size} is not covered by a signed checkpoint (latest: {latest})"
        )
    found = reader.checkpoint_for(size)
    return size, None if found is None else found.note


__all__ = ["DEFAULT_BATCH", "AuditLog", "BackgroundIntegrator"]
