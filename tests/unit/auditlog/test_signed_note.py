"""C2SP signed notes, verifier and signer keys, and tlog-checkpoint bodies."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from enclave.auditlog import (
    Checkpoint,
    LogInputError,
    Signer,
    SigningKeyError,
    VerificationFailed,
    create_signing_key,
    ensure_signing_key,
    load_signer,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_vkey,
    sign_note,
)
from enclave.auditlog.note import parse_signer

ROOT = bytes(range(32))


def test_sign_and_open_round_trip() -> None:
    signer = Signer.generate("log.example/a")
    note = sign_note("hello\nworld\n", [signer])
    assert note.startswith("hello\nworld\n\n\u2014 log.example/a ")
    opened = open_note(note, [signer.verifier])
    assert opened.text == "hello\nworld\n"
    assert opened.verified_by == (signer.verifier.vkey,)
    assert parse_vkey(signer.verifier.vkey) == signer.verifier
    assert parse_signer(signer.encode()) == signer
    assert "seed" not in repr(signer) and signer.seed.hex() not in repr(signer)


def test_unknown_cosigners_are_ignored_but_known_ones_must_verify() -> None:
    log, witness = Signer.generate("log.example/a"), Signer.generate("witness.example/w")
    note = sign_note("text\n", [log, witness])
    assert open_note(note, [log.verifier]).verified_by == (log.verifier.vkey,)
    # Same name and key id, different key: the signature by a "known" key fails.
    impostor = Signer(name=log.name, seed=witness.seed)
    forged = sign_note("text\n", [impostor])
    forged = forged.replace(
        forged.split(" ")[-1].strip(),
        base64.b64encode(
            log.verifier.key_id.to_bytes(4, "big") + impostor.sign(b"text\n")
        ).decode(),
    )
    with pytest.raises(VerificationFailed, match="does not verify"):
        open_note(forged, [log.verifier])


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ("no signatures\n", "malformed signed note"),
        ("text\n\nnot a signature line\n", "malformed signature line"),
        ("text\n\n\u2014 name bad!base64\n", "base64"),
        ("text\n\n\u2014 name AAAA\n", "too short"),
        ("te\x01xt\n\n\u2014 name AAAAAAAA\n", "control characters"),
        ("text\n\n\u2014 na+me AAAAAAAA\n", "key name"),
        (b"\xff\n\n", "UTF-8"),
    ],
)
def test_malformed_notes_are_refused(message: str | bytes, match: str) -> None:
    with pytest.raises(LogInputError, match=match):
        open_note(message, [Signer.generate("n.example/x").verifier])


def test_too_many_signatures_are_refused() -> None:
    signer = Signer.generate("n.example/x")
    note = sign_note("t\n", [signer] * 101)
    with pytest.raises(LogInputError, match="more than 100"):
        open_note(note, [signer.verifier])


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        ("only+two", "expected <name>"),
        ("name+XYZ+AQ==", "8 lower-case hex"),
        ("name+00000000+!!", "base64"),
        ("name+00000000+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode(), "Ed25519"),
        ("name+00000000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(), "does not match"),
        ("bad name+00000000+AQ==", "key name"),
    ],
)
def test_malformed_vkeys_are_refused(vkey: str, match: str) -> None:
    with pytest.raises(LogInputError, match=match):
        parse_vkey(vkey)


def test_signer_keys_with_a_wrong_form_are_refused() -> None:
    with pytest.raises(SigningKeyError, match="PRIVATE"):
        parse_signer("name+00000000+AQ==")
    good = Signer.generate("n.example/x").encode()
    wrong_id = good.replace(good.split("+")[3], "00000000", 1)
    with pytest.raises(SigningKeyError, match="does not match"):
        parse_signer(wrong_id)


def test_checkpoint_text_round_trips() -> None:
    checkpoint = Checkpoint(origin="log.example/a", size=42, root=ROOT, extensions=("ext 1",))
    text = checkpoint.text()
    assert text == f"log.example/a\n42\n{base64.b64encode(ROOT).decode()}\next 1\n"
    assert parse_checkpoint(text) == checkpoint


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("origin\n42\n", "expected origin"),
        ("\n42\nAAAA\n", "empty origin"),
        ("o\n042\n" + base64.b64encode(ROOT).decode() + "\n", "decimal"),
        ("o\n-1\n" + base64.b64encode(ROOT).decode() + "\n", "decimal"),
        ("o\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n", "32 bytes"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n", "empty extension"),
        ("o\n1\n" + base64.b64encode(ROOT).decode(), "newline"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, match: str) -> None:
    with pytest.raises(LogInputError, match=match):
        parse_checkpoint(text)


def test_open_checkpoint_requires_the_logs_origin() -> None:
    signer = Signer.generate("log.example/a")
    note = sign_note(Checkpoint(origin="other.example", size=1, root=ROOT).text(), [signer])
    with pytest.raises(VerificationFailed, match="origin"):
        open_checkpoint(note, signer.verifier)


def test_key_file_is_created_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state" / "log.key"
    verifier = ensure_signing_key(path, "log.example/a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_signing_key(path, "log.example/a") == verifier  # idempotent
    with pytest.raises(SigningKeyError, match="exists already"):
        create_signing_key(path, "log.example/a")
    with pytest.raises(SigningKeyError, match="differs"):
        ensure_signing_key(path, "log.example/b")
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="readable by other users"):
        load_signer(path)
    with pytest.raises(SigningKeyError, match="missing"):
        load_signer(tmp_path / "absent.key")
