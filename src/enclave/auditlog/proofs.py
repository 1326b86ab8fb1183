"""Proofs as JSON, and their checks by a third party holding only the log's public key.

The JSON is what `enclave audit prove` / `consistency` print and what the
``/log/proof/...`` endpoints serve; hashes and entries are standard base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from enclave.auditlog.interface import (
    ConsistencyProof,
    InclusionProof,
    LogInputError,
    VerificationFailed,
)
from enclave.auditlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from enclave.auditlog.note import Checkpoint, Verifier, open_checkpoint


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise LogInputError(f"{what}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LogInputError(f"{what}: not standard base64") from None


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LogInputError(f"{key}: expected a non-negative integer")
    return value


def _path(data: Mapping[str, Any]) -> tuple[bytes, ...]:
    items = data.get("proof")
    if not isinstance(items, list):
        raise LogInputError("proof: expected a list of base64 hashes")
    return tuple(_unb64(item, f"proof[{i}]") for i, item in enumerate(items))


def _note(data: Mapping[str, Any]) -> str | None:
    note = data.get("checkpoint")
    if note is not None and not isinstance(note, str):
        raise LogInputError("checkpoint: expected the signed note as a string")
    return note


def inclusion_json(proof: InclusionProof) -> dict[str, Any]:
    return {
        "index": proof.index,
        "tree_size": proof.tree_size,
        "leaf_hash": _b64(proof.leaf_hash),
        "entry": _b64(proof.entry),
        "proof": [_b64(p) for p in proof.path],
        "checkpoint": proof.checkpoint,
    }


def parse_inclusion(data: Mapping[str, Any]) -> InclusionProof:
    return InclusionProof(
        index=_int(data, "index"),
        tree_size=_int(data, "tree_size"),
        leaf_hash=_unb64(data.get("leaf_hash"), "leaf_hash"),
        entry=_unb64(data.get("entry"), "entry"),
        path=_path(data),
        checkpoint=_note(data),
    )


def consistency_json(proof: ConsistencyProof) -> dict[str, Any]:
    return {
        "old_size": proof.old_size,
        "new_size": proof.new_size,
        "old_root": _b64(proof.old_root),
        "new_root": _b64(proof.new_root),
        "proof": [_b64(p) for p in proof.path],
        "checkpoint": proof.checkpoint,
    }


def parse_consistency(data: Mapping[str, Any]) -> ConsistencyProof:
    return ConsistencyProof(
        old_size=_int(data, "old_size"),
        new_size=_int(data, "new_size"),
        old_root=_unb64(data.get("old_root"), "old_root"),
        new_root=_unb64(data.get("new_root"), "new_root"),
        path=_path(data),
        checkpoint=_note(data),
    )


def _signed(note: str | None, verifier: Verifier, size: int) -> Checkpoint:
    if note is None:
        raise LogInputError(f"the proof carries no signed checkpoint for size {size}")
    checkpoint = open_checkpoint(note, verifier)
    if checkpoint.size != size:
        raise VerificationFailed(
            f"the proof is for size {size} but its checkpoint is for size {checkpoint.size}"
        )
    return checkpoint


def check_inclusion(proof: InclusionProof, verifier: Verifier) -> Checkpoint:
    """The entry is leaf ``index`` of the tree the log signed: raises unless it is."""
    checkpoint = _signed(proof.checkpoint, verifier, proof.tree_size)
    if leaf_hash(proof.entry) != proof.leaf_hash:
        raise VerificationFailed("the entry does not hash to the proof's leaf hash")
    verify_inclusion(proof.index, proof.tree_size, proof.leaf_hash, proof.path, checkpoint.root)
    return checkpoint


def check_consistency(proof: ConsistencyProof, verifier: Verifier, old_note: str) -> Checkpoint:
    """The signed tree in ``proof`` extends the one in ``old_note``: raises unless it does."""
    old = open_checkpoint(old_note, verifier)
    new = _signed(proof.checkpoint, verifier, proof.new_size)
    if old.size != proof.old_size:
        raise VerificationFailed(
            f"the proof starts at size {proof.old_size}, the old checkpoint is size {old.size}"
        )
    verify_consistency(old.size, new.size, old.root, new.root, proof.path)
    return new


__all__ = [
    "check_consistency",
    "check_inclusion",
    "consistency_json",
    "inclusion_json",
    "parse_consistency",
    "parse_inclusion",
]
