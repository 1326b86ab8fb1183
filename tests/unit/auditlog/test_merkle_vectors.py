"""RFC 6962/9162 test vectors from ../shared/data/merkle-vectors: all 196 inclusion and
consistency cases of transparency-dev/merkle, the reference tree, a real CT log's proofs
and the C2SP signed-note example. Missing vectors fail under CI=true, skip elsewhere."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from auditlog_support import require_vectors, vectors_dir

from enclave.auditlog import AuditLogError, VerificationFailed, open_note, parse_vkey
from enclave.auditlog.merkle import (
    EMPTY_ROOT,
    consistency_path,
    inclusion_path,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from enclave.auditlog.note import Verifier, key_id

# The size-3654490 root of Argon 2020 is written in golang/mod's ct_test.go, not in a file
# (see the vectors' README).
ARGON_OLD_ROOT = "AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ="
ARGON_OLD_SIZE = 3654490


def _cases(kind: str) -> list[Any]:
    found = vectors_dir()
    if found is None:
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    files = sorted((found / kind).rglob("*.json"))
    return [pytest.param(path, id=str(path.relative_to(found / kind))) for path in files]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        require_vectors()
        raise AssertionError("unreachable")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_all_196_vector_files_are_present() -> None:
    root = require_vectors()
    inclusion = list((root / "inclusion").rglob("*.json"))
    consistency = list((root / "consistency").rglob("*.json"))
    assert (len(inclusion), len(consistency)) == (98, 98)


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    case = _load(path)
    proof = [_b64(p) for p in case["proof"] or []]

    def check() -> None:
        verify_inclusion(
            case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof, _b64(case["root"])
        )

    if case["wantErr"]:
        with pytest.raises(AuditLogError):
            check()
    else:
        check()


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    case = _load(path)
    proof = [_b64(p) for p in case["proof"] or []]

    def check() -> None:
        verify_consistency(
            case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof
        )

    if case["wantErr"]:
        with pytest.raises(AuditLogError):
            check()
    else:
        check()


def _reference() -> tuple[list[bytes], dict[str, Any]]:
    tree = json.loads((require_vectors() / "reference-tree.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(h)) for h in tree["leaf_inputs_hex"]]
    return leaves, tree


def test_reference_tree_roots_and_nodes() -> None:
    leaves, tree = _reference()
    roots = tree["root_hashes_hex_by_tree_size"]
    assert root_of([]) == EMPTY_ROOT == bytes.fromhex(roots[0])
    for size in range(1, len(leaves) + 1):
        assert root_of(leaves[:size]).hex() == roots[size], size
    assert [h.hex() for h in leaves] == tree["node_hashes_hex_by_level"][0]


def _complete(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    def complete(level: int, index: int) -> bytes:
        return root_of(leaves[index << level : (index + 1) << level])

    return complete


def test_generated_proofs_equal_the_happy_path_vectors() -> None:
    """Our generators reproduce every numbered happy-path proof of the 8-leaf tree."""
    leaves, _ = _reference()
    root = require_vectors()
    for path in sorted(root.glob("inclusion/[0-9]/happy-path.json")):
        case = json.loads(path.read_text())
        tree = leaves[: case["treeSize"]]
        got = inclusion_path(_complete(tree), case["leafIdx"], len(tree))
        assert [base64.b64encode(p).decode() for p in got] == (case["proof"] or []), path
    for path in sorted(root.glob("consistency/[0-9]/happy-path.json")):
        case = json.loads(path.read_text())
        tree = leaves[: case["size2"]]
        got = consistency_path(_complete(tree), case["size1"], case["size2"])
        assert [base64.b64encode(p).decode() for p in got] == (case["proof"] or []), path


def _argon(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((require_vectors() / "ct-argon2020" / name).read_text())
    return data


def test_real_ct_log_inclusion_proof_verifies() -> None:
    sth, proof = _argon("sth.json"), _argon("proof.json")
    entry = _b64(_argon("entries.json")["entries"][0]["leaf_input"])
    path = [_b64(p) for p in proof["audit_path"]]
    root = _b64(sth["sha256_root_hash"])
    verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash(entry), path, root)
    assert len(path) == 30
    with pytest.raises(VerificationFailed):
        verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash(entry + b"x"), path, root)


def test_real_ct_log_consistency_proof_verifies() -> None:
    sth = _argon("sth.json")
    path = [_b64(p) for p in _argon("consistency.json")["consistency"]]
    new_root = _b64(sth["sha256_root_hash"])
    old_root = _b64(ARGON_OLD_ROOT)
    verify_consistency(ARGON_OLD_SIZE, sth["tree_size"], old_root, new_root, path)
    changed = bytes([old_root[0] ^ 1]) + old_root[1:]
    with pytest.raises(VerificationFailed):
        verify_consistency(ARGON_OLD_SIZE, sth["tree_size"], changed, new_root, path)


def _signed_note_example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((require_vectors() / "signed-note-example.json").read_text())
    return data


def test_signed_note_example_verifies() -> None:
    example = _signed_note_example()
    verifier = parse_vkey(example["vkey"])
    assert f"{verifier.key_id:08x}" == example["key_id_hex"] == "530d903a"
    assert key_id(example["key_name"], verifier.public) == verifier.key_id
    assert verifier.vkey == example["vkey"]
    note = open_note(example["signed_note"], [verifier])
    assert note.text == example["note_text_signed"]
    assert note.verified_by == (example["vkey"],)


def test_signed_note_example_refuses_a_changed_text() -> None:
    example = _signed_note_example()
    verifier = parse_vkey(example["vkey"])
    forged = example["signed_note"].replace("an example", "a forged", 1)
    with pytest.raises(VerificationFailed, match="forged"):
        open_note(forged, [verifier])


def test_signed_note_example_needs_a_known_key() -> None:
    example = _signed_note_example()
    stranger = Verifier(name="example.com/other", key_id=1, public=b"\x00" * 32)
    with pytest.raises(VerificationFailed, match="no valid signature"):
        open_note(example["signed_note"], [stranger])
