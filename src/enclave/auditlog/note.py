"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and the C2SP
tlog-checkpoint body they carry (https://c2sp.org/tlog-checkpoint).

A signed note is text ending in a newline, a blank line, then signature lines
``— <key name> <base64(key id || signature)>``. The key id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key), 0x01 being the Ed25519 signature type. A
verifier key ("vkey") is ``<name>+<hex key id>+<base64(0x01 || public key)>``; the private
key file uses golang.org/x/mod/sumdb/note's ``PRIVATE+KEY+<name>+<hex id>+<base64>`` form so
that Go tooling can read it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from enclave.auditlog.interface import LogInputError, SigningKeyError, VerificationFailed
from enclave.auditlog.merkle import HASH_SIZE

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # an em dash and a space start every signature line
MAX_SIGNATURES = 100  # golang.org/x/mod/sumdb/note refuses notes with more
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


def _b64decode(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LogInputError(f"{what}: not standard base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise LogInputError(f"{what}: not canonical base64")
    return raw


def check_key_name(name: str) -> str:
    if not name or any(ch.isspace() or ch == "+" for ch in name) or not name.isprintable():
        raise LogInputError(
            f"key name {name!r}: expected a non-empty name without spaces or '+' "
            "(e.g. example.com/log)"
        )
    return name


def key_id(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    key_id: int
    public: bytes  # 32 raw Ed25519 bytes

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Signer:
    name: str
    seed: bytes  # 32-byte Ed25519 private seed

    @classmethod
    def generate(cls, name: str) -> Signer:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name=check_key_name(name), seed=seed)

    @property
    def verifier(self) -> Verifier:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return Verifier(name=self.name, key_id=key_id(self.name, public), public=public)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)

    def encode(self) -> str:
        keydata = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode("ascii")
        return f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.key_id:08x}+{keydata}"

    def __repr__(self) -> str:  # never print the seed
        return f"Signer(name={self.name!r}, key_id={self.verifier.key_id:08x})"


def _split_key(text: str, what: str) -> tuple[str, int, bytes]:
    parts = text.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise LogInputError(f"{what}: expected <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise LogInputError(f"{what}: key id must be 8 lower-case hex digits")
    raw = _b64decode(encoded, what)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise LogInputError(f"{what}: expected an Ed25519 key (type 0x01, 32 bytes)")
    return name, int(hex_id, 16), raw[1:]


def parse_vkey(text: str) -> Verifier:
    name, kid, public = _split_key(text.strip(), "verifier key")
    if key_id(name, public) != kid:
        raise LogInputError("verifier key: key id does not match the name and key")
    return Verifier(name=name, key_id=kid, public=public)


def parse_signer(text: str) -> Signer:
    text = text.strip()
    if not text.startswith(_PRIVATE_PREFIX):
        raise SigningKeyError("signing key: expected PRIVATE+KEY+<name>+<id>+<key>")
    try:
        name, kid, seed = _split_key(text.removeprefix(_PRIVATE_PREFIX), "signing key")
    except LogInputError as exc:
        raise SigningKeyError(exc.message) from None
    signer = Signer(name=name, seed=seed)
    if signer.verifier.key_id != kid:
        raise SigningKeyError("signing key: key id does not match the name and key")
    return signer


# -- signed notes -------------------------------------------------------------------------


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise LogInputError("note text must end with a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise LogInputError("note text must not contain control characters")


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    _check_text(text)
    lines = []
    for signer in signers:
        sig = signer.verifier.key_id.to_bytes(4, "big") + signer.sign(text.encode("utf-8"))
        lines.append(f"{SIG_PREFIX}{signer.name} {base64.b64encode(sig).decode('ascii')}\n")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    verified_by: tuple[str, ...]  # vkeys whose signatures verified


def open_note(message: str | bytes, verifiers: Iterable[Verifier]) -> Note:
    """Verify a signed note: at least one known key must have signed it, and every
    signature by a known key (same name and id) must verify."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise LogInputError("signed note is not valid UTF-8") from None
    cut = message.rfind("\n\n")
    if cut < 0 or not message.endswith("\n"):
        raise LogInputError("malformed signed note: expected text, a blank line, signatures")
    text, block = message[: cut + 1], message[cut + 2 :]
    _check_text(text)
    known = {(v.name, v.key_id): v for v in verifiers}
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise LogInputError(f"signed note has more than {MAX_SIGNATURES} signatures")
    verified: list[str] = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise LogInputError("malformed signature line in signed note")
        name, _, encoded = line.removeprefix(SIG_PREFIX).rpartition(" ")
        check_key_name(name)
        sig = _b64decode(encoded, "note signature")
        if len(sig) < 5:
            raise LogInputError("note signature is too short")
        verifier = known.get((name, int.from_bytes(sig[:4], "big")))
        if verifier is None:
            continue  # a cosigner we do not know (e.g. a witness): allowed, not counted
        if not verifier.verify(text.encode("utf-8"), sig[4:]):
            raise VerificationFailed(f"signature by {name} does not verify: note forged")
        verified.append(verifier.vkey)
    if not verified:
        names = ", ".join(sorted({v.name for v in known.values()})) or "(none)"
        raise VerificationFailed(f"note carries no valid signature by a trusted key ({names})")
    return Note(text=text, verified_by=tuple(verified))


# -- checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        root = base64.b64encode(self.root).decode("ascii")
        body = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in body)


def parse_checkpoint(text: str) -> Checkpoint:
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise LogInputError("checkpoint: expected origin, tree size and root hash lines")
    origin, size, root, *extensions = lines
    if not origin:
        raise LogInputError("checkpoint: empty origin line")
    if not _SIZE.fullmatch(size):
        raise LogInputError(f"checkpoint: tree size {size!r} is not a decimal number")
    raw = _b64decode(root, "checkpoint root hash")
    if len(raw) != HASH_SIZE:
        raise LogInputError(f"checkpoint: root hash must be {HASH_SIZE} bytes")
    if any(not line for line in extensions):
        raise LogInputError("checkpoint: empty extension line")
    return Checkpoint(origin=origin, size=int(size), root=raw, extensions=tuple(extensions))


def open_checkpoint(message: str | bytes, verifier: Verifier) -> Checkpoint:
    """Verify a signed checkpoint note by the log's key and parse its body."""
    note = open_note(message, [verifier])
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != verifier.name:
        raise VerificationFailed(
            f"checkpoint origin {checkpoint.origin!r} is not the log's ({verifier.name!r})"
        )
    return checkpoint


__all__ = [
    "Checkpoint",
    "Note",
    "Signer",
    "Verifier",
    "check_key_name",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_signer",
    "parse_vkey",
    "sign_note",
]
