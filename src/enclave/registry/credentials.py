"""API keys and operator tokens: generation, parsing and keyed hashing.

A credential looks like ``enc_<prefix>_<secret>`` (operator tokens: ``eop_…``). The
prefix is random and not secret: it is the database lookup key and what operators see
in listings. Only ``HMAC-SHA256(pepper, credential)`` is stored.

Why a fast keyed hash and not argon2/bcrypt: those exist to slow down guessing of
low-entropy human passwords. Our secrets are 256 random bits, so guessing is infeasible
at any hash speed, while a memory-hard hash would add tens of milliseconds to every
gateway request (the budget is 1 ms for the whole governed path, DESIGN.md). The
pepper lives outside the database (``state_dir/key-pepper``), so a stolen database alone
cannot even confirm a guessed key. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

from enclave.registry.interface import CredentialError, StoredSecret

Kind = Literal["enc", "eop"]

_PREFIX_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"  # no l, 0, 1: read aloud safely
_PREFIX_LEN = 12
_PATTERN = re.compile(r"^(enc|eop)_([a-z2-9]{12})_([A-Za-z0-9_-]{43})$")


def new_credential(kind: Kind, pepper: bytes) -> tuple[str, StoredSecret]:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LEN))
    credential = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return credential, StoredSecret(prefix=prefix, digest=digest(credential, pepper))


def digest(credential: str, pepper: bytes) -> str:
    return hmac.new(pepper, credential.encode("ascii"), hashlib.sha256).hexdigest()


def parse(credential: str, kind: Kind) -> str:
    """Return the lookup prefix, or raise CredentialError without echoing the secret."""
    match = _PATTERN.match(credential)
    if match is None or match.group(1) != kind:
        expected = "enc_…" if kind == "enc" else "eop_…"
        raise CredentialError("malformed credential", hint=f"expected a {expected} credential")
    return match.group(2)


def matches(credential: str, stored_digest: str, pepper: bytes) -> bool:
    return hmac.compare_digest(digest(credential, pepper), stored_digest)


def new_pepper() -> bytes:
    return secrets.token_bytes(32)


__all__ = ["digest", "matches", "new_credential", "new_pepper", "parse"]
