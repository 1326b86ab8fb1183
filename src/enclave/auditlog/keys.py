"""The log's Ed25519 signing key: one file outside the database, created by `enclave init`.

Threat-model assumption: whoever can write the database cannot read this file (it is
mode 0600, owned by the service account, and never copied into the database). Anyone who
can read it can sign checkpoints; a witness holding an earlier checkpoint still detects
any rewrite of history they sign.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from enclave.auditlog.interface import SigningKeyError
from enclave.auditlog.note import Signer, Verifier, parse_signer


def create_signing_key(path: Path, name: str) -> Signer:
    """Write a new key to ``path`` (mode 0600); never overwrites an existing file."""
    signer = Signer.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"log signing key {path} exists already; not overwritten") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(signer.encode() + "\n")
    return signer


def load_signer(path: Path, *, expected_name: str | None = None) -> Signer:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise SigningKeyError(
            f"log signing key {path} is missing",
            hint="run `enclave init`, or set ENCLAVE_LOG_SIGNING_KEY to the key file",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"cannot read log signing key {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            f"log signing key {path} is readable by other users", hint=f"chmod 600 {path}"
        )
    signer = parse_signer(text)
    if expected_name is not None and signer.name != expected_name:
        raise SigningKeyError(
            f"log origin {expected_name!r} differs from the signing key's name {signer.name!r}",
            hint="the origin is part of the key id; set ENCLAVE_LOG_ORIGIN to the key's name",
        )
    return signer


class LastSignedFile:
    """SignedMemory in a file beside the key (``<key>.last``), written atomically. Several
    integrators on one host share it; it only moves forward."""

    def __init__(self, key_path: Path) -> None:
        self.path = key_path.with_name(key_path.name + ".last")

    def recall(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise SigningKeyError(f"cannot read {self.path}: {exc}") from None

    def remember(self, note: str, size: int) -> None:
        current = self.recall()
        if current is not None and _size_of(current) >= size:
            return
        temporary = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(note)
        os.replace(temporary, self.path)


def _size_of(note: str) -> int:
    lines = note.split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else -1


def ensure_signing_key(path: Path, name: str) -> Verifier:
    """Create the key on first use; otherwise check the existing one. Returns its verifier."""
    if not path.exists():
        return create_signing_key(path, name).verifier
    return load_signer(path, expected_name=name).verifier


__all__ = ["LastSignedFile", "create_signing_key", "ensure_signing_key", "load_signer"]
