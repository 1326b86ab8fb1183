"""Proofs the log produces, against the RFC's recursive definitions and the verifiers.

The log under test is the real AuditLog service over an in-memory store, integrated in
random batches, so tiles are extended across batch and tile boundaries as in production.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from auditlog_support import MemoryLog, ref_leaf, ref_mth, ref_path, ref_subproof
from hypothesis import given, settings

from enclave.auditlog import AuditLog, LogInputError, Signer, VerificationFailed
from enclave.auditlog.merkle import (
    consistency_path,
    inclusion_path,
    root_from_inclusion,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from enclave.auditlog.tiles import TiledTree

SIGNER = Signer.generate("test.example/log")


def _log(size: int, batches: list[int] | None = None) -> tuple[AuditLog, MemoryLog, list[bytes]]:
    store = MemoryLog()
    log = AuditLog(store=store, signer=SIGNER)
    entries = [f"entry {i}".encode() for i in range(size)]
    position = 0
    for step in batches or [size]:
        chunk = entries[position : position + step]
        store.add(chunk)
        log.integrate(batch=max(1, len(chunk)))
        position += len(chunk)
    store.add(entries[position:])
    log.integrate()
    return log, store, [ref_leaf(e) for e in entries]


def _flip(value: bytes, bit: int) -> bytes:
    i = (bit // 8) % len(value)
    return value[:i] + bytes([value[i] ^ (1 << (bit % 8))]) + value[i + 1 :]


def test_every_proof_of_small_trees_matches_the_rfc_definitions() -> None:
    for n in range(1, 40):
        leaves = [ref_leaf(bytes([i])) for i in range(n)]

        def complete(level: int, index: int, leaves: list[bytes] = leaves) -> bytes:
            return root_of(leaves[index << level : (index + 1) << level])

        root = ref_mth(leaves)
        assert tree_root(complete, n) == root_of(leaves) == root
        for m in range(n):
            path = inclusion_path(complete, m, n)
            assert path == ref_path(m, leaves)
            verify_inclusion(m, n, leaves[m], path, root)
        for m in range(1, n + 1):
            proof = consistency_path(complete, m, n)
            assert proof == ref_subproof(m, leaves, True)
            verify_consistency(m, n, ref_mth(leaves[:m]), root, proof)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=1100),
    batches=st.lists(st.integers(min_value=1, max_value=400), max_size=5),
    data=st.data(),
)
def test_log_proofs_verify_and_any_flipped_hash_fails(
    size: int, batches: list[int], data: st.DataObject
) -> None:
    log, _, leaves = _log(size, batches)
    n = data.draw(st.integers(min_value=1, max_value=size), label="tree size")
    m = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf")
    old = data.draw(st.integers(min_value=1, max_value=n), label="old size")
    root, old_root = root_of(leaves[:n]), root_of(leaves[:old])

    inclusion = log.inclusion_proof(m, n)
    assert inclusion.leaf_hash == leaves[m] and inclusion.entry == f"entry {m}".encode()
    verify_inclusion(m, n, leaves[m], inclusion.path, root)
    consistency = log.consistency_proof(old, n)
    assert (consistency.old_root, consistency.new_root) == (old_root, root)
    verify_consistency(old, n, old_root, root, consistency.path)

    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    for i in range(len(inclusion.path)):
        bad = list(inclusion.path)
        bad[i] = _flip(bad[i], bit)
        with pytest.raises(VerificationFailed):
            verify_inclusion(m, n, leaves[m], bad, root)
    with pytest.raises(VerificationFailed):
        verify_inclusion(m, n, _flip(leaves[m], bit), inclusion.path, root)
    with pytest.raises(VerificationFailed):
        verify_inclusion(m, n, leaves[m], inclusion.path, _flip(root, bit))
    for i in range(len(consistency.path)):
        bad = list(consistency.path)
        bad[i] = _flip(bad[i], bit)
        with pytest.raises(VerificationFailed):
            verify_consistency(old, n, old_root, root, bad)
    if old < n:
        with pytest.raises(VerificationFailed):
            verify_consistency(old, n, _flip(old_root, bit), root, consistency.path)
        with pytest.raises(VerificationFailed):
            verify_consistency(old, n, old_root, _flip(root, bit), consistency.path)


def test_tiles_hold_every_complete_subtree_across_two_tile_levels() -> None:
    """70,000 leaves: level-8 and level-16 hashes exist and agree with a recomputation."""
    size = 256 * 256 + 4464
    _, store, leaves = _log(size, [300, 65_000, 1])
    assert len(store.hashes[8]) == size // 256
    assert len(store.hashes[16]) == 1
    assert store.hashes[16][0] == root_of(leaves[: 256 * 256])
    tree = TiledTree(store, size)
    assert tree_root(tree.complete, size) == root_of(leaves)
    for index in (0, 255, 256, 65_535, 65_536, size - 1):
        path = inclusion_path(tree.complete, index, size)
        assert root_from_inclusion(index, size, leaves[index], path) == root_of(leaves)


def test_proof_arguments_out_of_range_are_refused() -> None:
    log, _, _ = _log(10)
    with pytest.raises(LogInputError, match="outside"):
        log.inclusion_proof(10)
    with pytest.raises(LogInputError, match="not covered"):
        log.inclusion_proof(0, 11)
    with pytest.raises(LogInputError, match="0 < old size"):
        log.consistency_proof(0)
    with pytest.raises(LogInputError, match="0 < old size"):
        log.consistency_proof(5, 4)


def test_verifiers_refuse_malformed_shapes() -> None:
    leaves = [ref_leaf(bytes([i])) for i in range(5)]
    root = ref_mth(leaves)
    path = ref_path(2, leaves)
    with pytest.raises(VerificationFailed, match="outside"):
        verify_inclusion(5, 5, leaves[0], path, root)
    with pytest.raises(VerificationFailed, match="longer"):
        verify_inclusion(2, 5, leaves[2], [*path, root], root)
    with pytest.raises(VerificationFailed, match="shorter"):
        verify_inclusion(2, 5, leaves[2], path[:-1], root)
    with pytest.raises(LogInputError, match="32 bytes"):
        verify_inclusion(2, 5, leaves[2][:31], path, root)
    with pytest.raises(VerificationFailed, match="backwards"):
        verify_consistency(5, 4, root, root, [])
    with pytest.raises(VerificationFailed, match="meaningless"):
        verify_consistency(0, 5, root, root, [root])
    with pytest.raises(VerificationFailed, match="empty consistency proof"):
        verify_consistency(3, 5, root, root, [])
