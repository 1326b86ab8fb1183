"""Embargoed details encrypted at rest: AES-256-GCM (``cryptography``).

The data key lives outside the database (a file in state_dir made by `enclave init`, or
ENCLAVE_DISCLOSURE__DATA_KEY), so a copy of the database alone reveals no description, proof
of concept or webhook secret. Threat-model note: an attacker holding both the database and
the key file reads everything; keep them on different backups.

Each ciphertext is bound to its row and field through the associated data (e.g.
``finding:<id>:description``), so a ciphertext copied into another row fails to decrypt
instead of silently showing one case's details in another.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enclave.errors import ConfigError, StoreError

_VERSION = b"\x01"
_NONCE = 12  # bytes; 96-bit nonces as NIST SP 800-38D section 8.2 recommends


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the disclosure data key must be 32 bytes (64 hex characters)")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        # Random nonces: at 2^32 messages per key the collision bound of SP 800-38D 8.3
        # is reached; a disclosure programme writes a few thousand.
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))

    def open(self, blob: bytes, context: str) -> bytes:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
            raise StoreError(f"encrypted field {context} is malformed")
        try:
            return self._aead.decrypt(
                blob[1 : 1 + _NONCE], blob[1 + _NONCE :], context.encode("utf-8")
            )
        except InvalidTag:
            raise StoreError(
                f"encrypted field {context} does not decrypt",
                hint="wrong data key (state_dir/disclosure.key or ENCLAVE_DISCLOSURE__DATA_KEY)?",
            ) from None


def new_key_hex() -> bytes:
    return secrets.token_bytes(32).hex().encode("ascii") + b"\n"


def parse_key(text: str, source: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{source}: expected 64 hex characters") from None
    if len(key) != 32:
        raise ConfigError(f"{source}: expected 64 hex characters (a 256-bit key)")
    return key


def ensure_key_file(path: Path) -> None:
    """Create the data key file (mode 0600) on first use; never overwrite one."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(new_key_hex())


def load_key(path: Path, env_value: str | None) -> bytes:
    """The data key from the setting when given, else from the key file."""
    if env_value is not None:
        return parse_key(env_value, "disclosure.data_key (env ENCLAVE_DISCLOSURE__DATA_KEY)")
    try:
        return parse_key(path.read_text(encoding="ascii"), f"key file {path}")
    except FileNotFoundError:
        raise ConfigError(
            f"disclosure data key file {path} is missing",
            hint="run `enclave init`, or set ENCLAVE_DISCLOSURE__DATA_KEY",
        ) from None


__all__ = ["Sealer", "ensure_key_file", "load_key", "new_key_hex", "parse_key"]
