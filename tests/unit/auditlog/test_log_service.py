"""The audit log service over an in-memory store: integration, signing rules, serving."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest
from auditlog_support import MemoryLog, ref_leaf

from enclave.auditlog import (
    AuditLog,
    LogInputError,
    LogNotFound,
    ProblemKind,
    Signer,
    SigningKeyError,
    StoredCheckpoint,
    VerificationFailed,
    entry_bytes,
    open_checkpoint,
    sign_note,
)
from enclave.auditlog.merkle import root_of
from enclave.auditlog.note import Checkpoint
from enclave.auditlog.tiles import decode_bundle, split_hashes

SIGNER = Signer.generate("test.example/log")
AT = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _world(n: int) -> tuple[AuditLog, MemoryLog]:
    store = MemoryLog()
    store.add([f"e{i}".encode() for i in range(n)])
    log = AuditLog(store=store, signer=SIGNER, clock=lambda: AT)
    log.integrate()
    return log, store


def test_entries_are_canonical_json_of_the_row() -> None:
    entry = entry_bytes(seq=7, at=AT, kind="k", actor="a", subject="s", data='{"b":1,"a":[2]}')
    assert entry == (
        b'{"actor":"a","at":"2026-11-01T12:00:00.123456Z","data":{"b":1,"a":[2]},'
        b'"kind":"k","seq":7,"subject":"s"}'
    )
    assert orjson.loads(entry)["data"] == {"a": [2], "b": 1}


def test_oversized_entries_are_logged_as_a_digest() -> None:
    data = orjson.dumps({"blob": "x" * 70_000}).decode()
    entry = entry_bytes(seq=1, at=AT, kind="k", actor="a", subject="s", data=data)
    full = orjson.dumps(
        {
            "seq": 1,
            "at": AT,
            "kind": "k",
            "actor": "a",
            "subject": "s",
            "data": orjson.Fragment(data),
        },
        option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z,
    )
    assert len(entry) < 200
    assert orjson.loads(entry) == {
        "seq": 1,
        "at": "2026-11-01T12:00:00.123456Z",
        "kind": "k",
        "oversize": True,
        "sha256": hashlib.sha256(full).hexdigest(),
    }


def test_integration_signs_one_checkpoint_per_batch() -> None:
    store = MemoryLog()
    log = AuditLog(store=store, signer=SIGNER)
    first = log.integrate()
    assert (first.integrated, first.tree_size) == (0, 0)
    assert [c.size for c in store.checkpoints()] == [0]
    assert log.integrate().checkpoint is None  # nothing new: nothing signed
    store.add([b"a", b"b", b"c", b"d", b"e"])
    done = log.integrate(batch=2)
    assert (done.integrated, done.tree_size) == (5, 5)
    assert [c.size for c in store.checkpoints()] == [0, 2, 4, 5]
    latest = open_checkpoint(log.latest_checkpoint().note, SIGNER.verifier)
    assert latest.root == root_of([ref_leaf(e) for e in (b"a", b"b", b"c", b"d", b"e")])
    assert log.integrate(limit=0).integrated == 0


def test_integration_needs_the_signing_key() -> None:
    store = MemoryLog()
    store.add([b"a"])
    with pytest.raises(SigningKeyError, match="no log signing key"):
        AuditLog(store=store, verifier=SIGNER.verifier).integrate()
    with pytest.raises(SigningKeyError, match="does not match"):
        AuditLog(store=store, signer=SIGNER, verifier=Signer.generate("x.example/y").verifier)
    with pytest.raises(SigningKeyError, match="no log verifier key"):
        AuditLog(store=store).verify()
    with pytest.raises(LogInputError, match="batch"):
        AuditLog(store=store, signer=SIGNER).integrate(batch=0)


def test_the_log_refuses_to_sign_after_a_forged_checkpoint() -> None:
    log, store = _world(3)
    other = Signer.generate(SIGNER.name)
    forged = sign_note(Checkpoint(SIGNER.name, 3, b"\x00" * 32).text(), [other])
    store.checkpoint_rows[3] = StoredCheckpoint(3, b"\x00" * 32, forged, AT)
    store.add([b"next"])
    with pytest.raises(VerificationFailed, match="refusing to sign.*not one this log signed"):
        log.integrate()
    assert store.leaf_count() == 3  # rolled back
    assert max(store.checkpoint_rows) == 3


def test_the_log_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint() -> None:
    log, store = _world(5)
    store.leaves[2] = (store.leaves[2][0], ref_leaf(b"rewritten"))
    store.add([b"next"])
    with pytest.raises(VerificationFailed, match="not consistent with the checkpoint signed"):
        log.integrate()
    assert store.leaf_count() == 5


def test_the_log_refuses_to_sign_a_truncated_tree() -> None:
    log, store = _world(5)
    del store.leaves[3:]
    del store.events[3:]
    with pytest.raises(VerificationFailed, match="signed size 5 before"):
        log.integrate()


class Remembered:
    """SignedMemory in a variable (the file version is tested in test_auditlog_cli)."""

    def __init__(self) -> None:
        self.note: str | None = None

    def recall(self) -> str | None:
        return self.note

    def remember(self, note: str, size: int) -> None:
        self.note = note


def test_the_signer_remembers_what_it_signed_when_the_database_forgets() -> None:
    """An insider rewrites leaf 2, then deletes every stored checkpoint so that nothing in
    the database contradicts the rewrite. The signer's own memory still does."""
    store, memory = MemoryLog(), Remembered()
    log = AuditLog(store=store, signer=SIGNER, memory=memory)
    store.add([b"a", b"b", b"c", b"d", b"e"])
    log.integrate()
    assert memory.note == log.latest_checkpoint().note
    store.events[2] = (store.events[2][0], b"rewritten")
    store.leaves[2] = (store.leaves[2][0], ref_leaf(b"rewritten"))
    store.checkpoint_rows.clear()
    store.add([b"f"])
    with pytest.raises(VerificationFailed, match="not consistent with the checkpoint signed"):
        log.integrate()
    assert store.checkpoint_rows == {}
    # Without memory the same process would have signed the rewritten history.
    assert AuditLog(store=store, signer=SIGNER).integrate().tree_size == 6


def test_the_signer_refuses_a_forged_memory_and_a_shorter_tree() -> None:
    store, memory = MemoryLog(), Remembered()
    log = AuditLog(store=store, signer=SIGNER, memory=memory)
    store.add([b"a", b"b", b"c"])
    log.integrate()
    del store.leaves[1:]
    del store.events[1:]
    store.checkpoint_rows.clear()
    with pytest.raises(VerificationFailed, match="signed size 3 before"):
        log.integrate()
    memory.note = sign_note(
        Checkpoint(SIGNER.name, 1, b"\x00" * 32).text(), [Signer.generate(SIGNER.name)]
    )
    with pytest.raises(
        VerificationFailed, match="remembered checkpoint is not one this log signed"
    ):
        log.integrate()


def test_tiles_and_entry_bundles_follow_the_latest_checkpoint() -> None:
    log, store = _world(300)
    full = split_hashes(log.tile(0, 0))
    assert full == [h for _, h in store.leaves[:256]]
    assert split_hashes(log.tile(0, 1, 44)) == [h for _, h in store.leaves[256:]]
    assert log.tile(0, 1, 10) == log.tile(0, 1, 44)[: 10 * 32]  # a prefix is served
    assert split_hashes(log.tile(1, 0, 1)) == [root_of(full)]
    assert decode_bundle(log.entry_bundle(1, 44)) == [f"e{i}".encode() for i in range(256, 300)]
    for call in (lambda: log.tile(0, 1), lambda: log.tile(0, 1, 45), lambda: log.tile(1, 0)):
        with pytest.raises(LogNotFound, match="does not exist yet"):
            call()
    with pytest.raises(LogNotFound):
        log.entry_bundle(2, 1)
    with pytest.raises(LogInputError, match="tile level"):
        log.tile(64, 0, 1)


def test_no_checkpoint_yet_is_not_found() -> None:
    log = AuditLog(store=MemoryLog())
    with pytest.raises(LogNotFound, match="no checkpoint"):
        log.latest_checkpoint()
    with pytest.raises(LogInputError, match="not covered"):
        log.inclusion_proof(0)


def test_verify_narrows_a_consistent_rewrite_to_the_range_between_checkpoints() -> None:
    """An insider rewrote an entry *and* its stored leaf hash: only the signed roots show
    it, between the last checkpoint that still matches and the first that does not."""
    store = MemoryLog()
    log = AuditLog(store=store, signer=SIGNER)
    for n in (10, 10, 10):
        store.add([f"x{len(store.events) + i}".encode() for i in range(n)])
        log.integrate()
    seq = store.leaves[14][0]
    store.events[14] = (seq, b"rewritten")
    store.leaves[14] = (seq, ref_leaf(b"rewritten"))
    report = log.verify()
    assert not report.ok
    assert report.first_bad_index == 10
    kinds = {(p.kind, p.index, p.exact) for p in report.problems}
    assert (ProblemKind.ROOT_MISMATCH, 10, False) in kinds
    assert report.checked == (10, 20, 30)
