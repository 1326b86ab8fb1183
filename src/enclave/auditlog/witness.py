"""Witnessing: a second party keeps the newest checkpoint it has seen and accepts a new one
only if it is signed by the log and consistent with the old one.

This is the check C2SP tlog-witness describes (https://c2sp.org/tlog-witness), without the
cosignature: a log that shows different histories to different parties, or rewinds, is
caught as soon as a witness that saw the other history looks again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from enclave.auditlog.interface import ConsistencyProof, VerificationFailed
from enclave.auditlog.merkle import verify_consistency
from enclave.auditlog.note import Checkpoint, Verifier, open_checkpoint

# (old size, new size) -> consistency proof, from the log's tiles or a proof file
ProofSource = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class WitnessStep:
    previous: Checkpoint | None
    current: Checkpoint
    advanced: bool  # False when the new checkpoint is the one seen before


def witness(
    verifier: Verifier, previous_note: str | None, new_note: str, prove: ProofSource
) -> WitnessStep:
    """Check ``new_note`` against the last accepted note; raise VerificationFailed to refuse."""
    current = open_checkpoint(new_note, verifier)
    if previous_note is None:
        return WitnessStep(previous=None, current=current, advanced=True)  # trust on first use
    previous = open_checkpoint(previous_note, verifier)
    if current.size < previous.size:
        raise VerificationFailed(
            f"refusing to go backwards: the log now shows size {current.size}, "
            f"but it signed size {previous.size} before"
        )
    if current.size == previous.size:
        if current.root != previous.root:
            raise VerificationFailed(
                f"the log signed two different roots for size {current.size}: a fork"
            )
        return WitnessStep(previous=previous, current=current, advanced=False)
    if previous.size > 0:
        verify_consistency(
            previous.size,
            current.size,
            previous.root,
            current.root,
            prove(previous.size, current.size),
        )
    return WitnessStep(previous=previous, current=current, advanced=True)


def proof_from(bundle: ConsistencyProof) -> ProofSource:
    """A ProofSource answering from one proof the log printed (`enclave audit consistency`)."""

    def prove(old_size: int, new_size: int) -> Sequence[bytes]:
        if (bundle.old_size, bundle.new_size) != (old_size, new_size):
            raise VerificationFailed(
                f"the proof file covers sizes {bundle.old_size} -> {bundle.new_size}, "
                f"the witness needs {old_size} -> {new_size}"
            )
        return bundle.path

    return prove


__all__ = ["ProofSource", "WitnessStep", "proof_from", "witness"]
