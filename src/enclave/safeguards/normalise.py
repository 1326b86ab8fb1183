"""Normalisation before scoring (issue 6 item 2).

The classifier scores :func:`normalise`'s output, never the raw text: obfuscation that a
model reads through (look-alike letters, invisible characters, spaced letters, leetspeak,
base64, hex, percent-encoding, ROT13) is undone first, so that an obfuscated variant scores
as its plain form. The output is for scoring only: lower-cased, whitespace collapsed. What
is forwarded upstream is the client's text, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from enclave.safeguards.decoders import (
    collapse_spacing,
    decode_encodings,
    decode_rot13,
    fold_leet,
)
from enclave.safeguards.unicode_fold import fold_unicode

# Nested encodings (base64 of hex of ROT13) unwrap one layer per round. Three layers is
# past anything seen in jailbreak collections; the bound keeps the worst case linear.
MAX_ROUNDS = 4
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Normalised:
    text: str
    # The steps that changed the text, in order ("unicode", "invisible", "tags", "base64",
    # "hex", "percent", "spacing", "rot13", "leet"); empty for plain text. Obfuscation is itself a
    # signal the judge and the monitor may use.
    steps: tuple[str, ...] = ()

    @property
    def obfuscated(self) -> bool:
        return bool(self.steps)


def normalise(text: str) -> Normalised:
    steps: list[str] = []
    out = text
    for _ in range(MAX_ROUNDS):
        before = out
        out, changed = fold_unicode(out)
        steps.extend(changed)
        # Byte-level encodings first: letter-spacing and ROT13 must not touch a base64 or
        # hex run, and what they decode goes through the Unicode steps (the next round)
        # before anything else reads it, exactly as plain text would.
        out, changed = decode_encodings(out)
        steps.extend(changed)
        if changed:
            continue
        spaced = collapse_spacing(out)
        if spaced != out:
            steps.append("spacing")
            out = spaced
        rotated = decode_rot13(out)
        if rotated != out:
            steps.append("rot13")
            out = rotated
        # After ROT13: leet digits are not rotated, so folding first would rotate their
        # letter readings ("Ybt4Furyy" must become "Log4Shell", then "logashell").
        unleet = fold_leet(out)
        if unleet != out:
            steps.append("leet")
            out = unleet
        if out == before:
            break
    out = _WHITESPACE.sub(" ", out).strip().lower()
    return Normalised(out, tuple(dict.fromkeys(steps)))


__all__ = ["MAX_ROUNDS", "Normalised", "normalise"]
