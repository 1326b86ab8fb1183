"""Witnessing and third-party proof checks, with the public key alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
from auditlog_support import MemoryLog

from enclave.auditlog import (
    AuditLog,
    LogInputError,
    Signer,
    VerificationFailed,
    check_consistency,
    check_inclusion,
    consistency_json,
    inclusion_json,
    parse_consistency,
    parse_inclusion,
    proof_from,
    sign_note,
    witness,
)
from enclave.auditlog.note import Checkpoint

SIGNER = Signer.generate("test.example/log")
VERIFIER = SIGNER.verifier


class Grower:
    """A log that grows on demand, keeping each size's checkpoint note."""

    def __init__(self, prefix: str = "g") -> None:
        self.prefix = prefix
        self.store = MemoryLog()
        self.log = AuditLog(store=self.store, signer=SIGNER)
        self.notes: dict[int, str] = {}

    def grow(self, n: int) -> str:
        self.store.add([f"{self.prefix}{len(self.store.events) + i}".encode() for i in range(n)])
        checkpoint = self.log.integrate().checkpoint
        assert checkpoint is not None
        self.notes[checkpoint.size] = checkpoint.note
        return checkpoint.note

    def prove(self, old: int, new: int) -> tuple[bytes, ...]:
        return self.log.consistency_proof(old, new).path


def test_witness_trusts_first_then_requires_consistency() -> None:
    log = Grower()
    first = log.grow(3)
    step = witness(VERIFIER, None, first, log.prove)
    assert step.previous is None and step.current.size == 3 and step.advanced
    second = log.grow(5)
    step = witness(VERIFIER, first, second, log.prove)
    assert (step.previous.size if step.previous else None, step.current.size) == (3, 8)
    assert not witness(VERIFIER, second, second, log.prove).advanced


def test_witness_refuses_to_go_backwards() -> None:
    log = Grower()
    old, new = log.grow(3), log.grow(2)
    with pytest.raises(VerificationFailed, match="refusing to go backwards"):
        witness(VERIFIER, new, old, log.prove)


def test_witness_detects_a_fork() -> None:
    """The log shows the witness one history and someone else another, of the same size."""
    honest, other = Grower(), Grower()
    seen = honest.grow(4)
    other.store.add([b"something else"] * 4)
    forked = other.log.integrate().checkpoint
    assert forked is not None
    with pytest.raises(VerificationFailed, match="two different roots"):
        witness(VERIFIER, seen, forked.note, honest.prove)
    other.grow(3)  # larger, but not an extension of what the witness saw
    with pytest.raises(VerificationFailed):
        witness(VERIFIER, seen, other.notes[7], other.prove)


def test_witness_refuses_checkpoints_by_another_key() -> None:
    log = Grower()
    seen = log.grow(2)
    stranger = Signer.generate(SIGNER.name)
    fake = sign_note(Checkpoint(SIGNER.name, 9, b"\x01" * 32).text(), [stranger])
    with pytest.raises(VerificationFailed, match="does not verify|no valid signature"):
        witness(VERIFIER, seen, fake, log.prove)


def test_proof_file_must_cover_the_witnessed_sizes() -> None:
    log = Grower()
    a, _, c = log.grow(2), log.grow(2), log.grow(2)
    bundle = log.log.consistency_proof(4, 6)
    with pytest.raises(VerificationFailed, match="covers sizes 4 -> 6"):
        witness(VERIFIER, a, c, proof_from(bundle))
    assert witness(VERIFIER, log.notes[4], c, proof_from(bundle)).advanced


def test_inclusion_proof_json_checks_with_the_public_key_alone() -> None:
    log = Grower()
    log.grow(20)
    data = inclusion_json(log.log.inclusion_proof(7))
    proof = parse_inclusion(data)
    assert check_inclusion(proof, VERIFIER).size == 20
    with pytest.raises(VerificationFailed, match="does not hash"):
        check_inclusion(replace(proof, entry=b"g8"), VERIFIER)
    with pytest.raises(VerificationFailed):
        check_inclusion(replace(proof, index=8), VERIFIER)
    with pytest.raises(LogInputError, match="no signed checkpoint"):
        check_inclusion(replace(proof, checkpoint=None), VERIFIER)
    with pytest.raises(VerificationFailed, match="size 20 but its checkpoint is for size"):
        log.grow(1)
        check_inclusion(replace(proof, checkpoint=log.notes[21]), VERIFIER)


def test_consistency_proof_json_checks_against_the_old_checkpoint() -> None:
    log = Grower()
    old = log.grow(5)
    log.grow(6)
    proof = parse_consistency(consistency_json(log.log.consistency_proof(5)))
    assert check_consistency(proof, VERIFIER, old).size == 11
    other = Grower("h")
    with pytest.raises(VerificationFailed):
        check_consistency(proof, VERIFIER, other.grow(5))
    with pytest.raises(VerificationFailed, match="starts at size 5"):
        check_consistency(proof, VERIFIER, log.notes[11])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"index": -1}, "index"),
        ({"index": True}, "index"),
        ({"index": 1, "tree_size": 2, "leaf_hash": 5}, "leaf_hash"),
        ({"index": 1, "tree_size": 2, "leaf_hash": "!!"}, "base64"),
        ({"index": 1, "tree_size": 2, "leaf_hash": "", "entry": "", "proof": "x"}, "proof"),
        (
            {
                "index": 1,
                "tree_size": 2,
                "leaf_hash": "",
                "entry": "",
                "proof": [],
                "checkpoint": 1,
            },
            "checkpoint",
        ),
    ],
)
def test_malformed_proof_json_is_refused(data: dict[str, object], match: str) -> None:
    with pytest.raises(LogInputError, match=match):
        parse_inclusion(data)
