"""What the console's audit log page shows: the latest signed checkpoint, a full
verification, and inclusion and consistency proofs, each through
``enclave.auditlog.AuditLog``, the service behind `enclave audit` and the public ``/log``
routes.

Every proof shown is also checked here the way a third party would check it
(``check_inclusion`` / ``check_consistency`` with the log's public key), so the page says
whether the proof holds, not only what it is. Framework-free: ``console/audit_pages.py``
renders these values.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from enclave.auditlog import (
    AuditLog,
    LogInputError,
    LogNotFound,
    LogStore,
    ProblemKind,
    SigningKeyError,
    VerificationFailed,
    Verifier,
    check_consistency,
    check_inclusion,
    load_signer,
    parse_checkpoint,
)
from enclave.config import Settings

_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


@dataclass(frozen=True, slots=True)
class CheckpointView:
    origin: str
    size: int
    root: str  # base64, as in the note
    note: str  # the signed note exactly as served at /log/checkpoint
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ProblemView:
    kind: str
    index: int | None
    exact: bool
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyView:
    ok: bool
    tree_size: int  # entries recomputed from the events rows
    checkpoints: int  # signed checkpoints whose roots were recomputed
    first_bad_index: int | None
    problems: list[ProblemView]


@dataclass(frozen=True, slots=True)
class InclusionView:
    index: int
    seq: int | None  # the events row the entry renders
    tree_size: int
    entry: str  # the canonical JSON the leaf commits to
    leaf_hash: str
    path: list[str]
    checkpoint: str | None
    holds: bool | None  # checked against the signed checkpoint; None: none of that size
    reason: str  # why it does not hold, or why it was not checked


@dataclass(frozen=True, slots=True)
class ConsistencyView:
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]
    checkpoint: str | None
    holds: bool | None
    reason: str


class AuditConsole:
    """The log over the console's database, and the log's public key from the key file
    (loaded on first use, so a console without the file still shows checkpoints and
    proofs; only the checks then say what is missing)."""

    def __init__(self, *, store: LogStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self.log = AuditLog(store=store)
        self._verifier: Verifier | None = None

    def verifier(self) -> Verifier:
        if self._verifier is None:
            path = self._settings.log_key_path
            self._verifier = load_signer(path, expected_name=self._settings.log_origin).verifier
        return self._verifier

    def vkey(self) -> str | None:
        try:
            return self.verifier().vkey
        except SigningKeyError:
            return None

    # -- reads --------------------------------------------------------------------------

    def latest(self) -> CheckpointView | None:
        try:
            stored = self.log.latest_checkpoint()
        except LogNotFound:
            return None
        body = parse_checkpoint(stored.note.split("\n\n", 1)[0] + "\n")
        return CheckpointView(
            origin=body.origin,
            size=stored.size,
            root=b64(stored.root),
            note=stored.note,
            created_at=stored.created_at,
        )

    def verify(self) -> VerifyView:
        """Recompute every entry, leaf, tile and signed root from the events rows (what
        `enclave audit verify` does); raises SigningKeyError without the key file."""
        log = AuditLog(store=self._store, verifier=self.verifier())
        report = log.verify()
        return VerifyView(
            ok=report.ok,
            tree_size=report.tree_size,
            checkpoints=len(report.checked),
            first_bad_index=report.first_bad_index,
            problems=[
                ProblemView(
                    kind=ProblemKind(p.kind).value, index=p.index, exact=p.exact, detail=p.detail
                )
                for p in report.problems
            ],
        )

    def leaf_of_event(self, seq: int) -> int:
        """The leaf index of the events row ``seq``. Leaves are given consecutive indices
        in ``seq`` order (docs/audit-log.md), so a binary search over the stored leaves
        finds it in log2(size) single-row reads."""
        with self._store.log_reader() as reader:
            low, high = 0, reader.leaf_count()
            while low < high:
                mid = (low + high) // 2
                rows = reader.read_leaves(mid, 1)
                if not rows or rows[0][0] != mid:
                    raise VerificationFailed(
                        f"leaf {mid} is missing from storage",
                        hint="run `enclave audit verify`",
                    )
                found = rows[0][1]
                if found == seq:
                    return mid
                if found < seq:
                    low = mid + 1
                else:
                    high = mid
        raise LogNotFound(
            f"event {seq} is not in the log",
            hint="no such event, or it is not integrated yet (integration runs every second)",
        )

    def inclusion(
        self, *, index: int | None = None, seq: int | None = None, tree_size: int | None = None
    ) -> InclusionView:
        if (index is None) == (seq is None):
            raise LogInputError("give a leaf index or an event id, not both")
        leaf = self.leaf_of_event(seq) if seq is not None else index
        assert leaf is not None
        proof = self.log.inclusion_proof(leaf, tree_size)
        holds, reason = None, "the log signed no checkpoint of exactly this size"
        if proof.checkpoint is not None:
            holds, reason = self._check(lambda v: check_inclusion(proof, v))
        return InclusionView(
            index=proof.index,
            seq=seq if seq is not None else _seq_of(proof.entry),
            tree_size=proof.tree_size,
            entry=proof.entry.decode("utf-8", errors="replace"),
            leaf_hash=b64(proof.leaf_hash),
            path=[b64(p) for p in proof.path],
            checkpoint=proof.checkpoint,
            holds=holds,
            reason=reason,
        )

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyView:
        proof = self.log.consistency_proof(old_size, new_size)
        holds, reason = None, "the log signed no checkpoint of one of these sizes"
        with self._store.log_reader() as reader:
            old = reader.checkpoint_for(old_size)
        if proof.checkpoint is not None and old is not None:
            note = old.note
            holds, reason = self._check(lambda v: check_consistency(proof, v, note))
        return ConsistencyView(
            old_size=proof.old_size,
            new_size=proof.new_size,
            old_root=b64(proof.old_root),
            new_root=b64(proof.new_root),
            path=[b64(p) for p in proof.path],
            checkpoint=proof.checkpoint,
            holds=holds,
            reason=reason,
        )

    def _check(self, check: Callable[[Verifier], object]) -> tuple[bool | None, str]:
        try:
            verifier = self.verifier()
        except SigningKeyError as exc:
            return None, f"not checked: {exc.message}"
        try:
            check(verifier)
        except VerificationFailed as exc:
            return False, exc.message
        return True, "checked with the log's public key against its signed checkpoint"


def _seq_of(entry: bytes) -> int | None:
    """The events row an entry renders (every entry, even an oversize one, names its
    ``seq``; docs/audit-log.md, "What is logged")."""
    try:
        value = json.loads(entry)
    except ValueError:
        return None
    seq = value.get("seq") if isinstance(value, dict) else None
    return seq if isinstance(seq, int) else None


# -- form input -----------------------------------------------------------------------------


def number(form: Mapping[str, str], name: str, *, required: bool = False) -> int | None:
    """A non-negative integer field; empty is None unless required (LogInputError: 400)."""
    raw = form.get(name, "").strip()
    if not raw:
        if required:
            raise LogInputError(f"{name.replace('_', ' ')} is required")
        return None
    if not _NUMBER.fullmatch(raw):
        raise LogInputError(f"{name.replace('_', ' ')}: expected a non-negative integer")
    return int(raw)


__all__ = [
    "AuditConsole",
    "CheckpointView",
    "ConsistencyView",
    "InclusionView",
    "ProblemView",
    "VerifyView",
    "b64",
    "number",
]
