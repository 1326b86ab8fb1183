"""Obfuscations a requester might apply, for evaluation and property tests.

Each takes the text and a seeded ``random.Random`` and returns the obfuscated text. All but
``leet`` are undone exactly by normalisation; ``leet`` only in part (decoders.fold_leet).
"""

from __future__ import annotations

import base64
import codecs
import random
import re
from collections.abc import Callable

Obfuscation = Callable[[str, random.Random], str]

# Latin letters with a Cyrillic or Greek twin (the inverse of unicode_fold's table).
LOOKALIKES = {
    "a": "аα", "c": "с", "e": "еε", "i": "іι", "j": "ј", "o": "оο", "p": "рρ", "s": "ѕ",
    "x": "хχ", "y": "уү", "h": "һ", "d": "ԁ", "w": "ԝ", "k": "κ", "v": "ν",
    "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "K": "КΚ", "M": "МΜ", "O": "ОΟ",
    "P": "РΡ", "T": "ТΤ", "X": "ХΧ",
}  # fmt: skip
INVISIBLES = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0001")
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
_WORD = re.compile(r"[A-Za-z]{3,}")


def b64(text: str, rng: random.Random) -> str:
    return base64.b64encode(text.encode()).decode()


def hexed(text: str, rng: random.Random) -> str:
    return text.encode().hex()


def rot13(text: str, rng: random.Random) -> str:
    return codecs.encode(text, "rot13")


def lookalikes(text: str, rng: random.Random) -> str:
    return "".join(
        rng.choice(LOOKALIKES[ch]) if ch in LOOKALIKES and rng.random() < 0.5 else ch for ch in text
    )


def invisible(text: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        out.append(ch)
        if ch.isalpha() and rng.random() < 0.4:
            out.append(rng.choice(INVISIBLES))
    return "".join(out)


def spaced(text: str, rng: random.Random) -> str:
    # A separator the text does not use already: "cloud-based" spaced with "-" would read
    # as one word, an ambiguity of the trick rather than of the normaliser.
    free = [sep for sep in ".-_*" if sep not in text] or ["*"]
    sep = rng.choice(free)
    return _WORD.sub(lambda m: sep.join(m.group()), text)


def fullwidth(text: str, rng: random.Random) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def leet(text: str, rng: random.Random) -> str:
    return text.translate(_LEET)


OBFUSCATIONS: dict[str, Obfuscation] = {
    "base64": b64,
    "hex": hexed,
    "rot13": rot13,
    "lookalikes": lookalikes,
    "invisible": invisible,
    "spaced": spaced,
    "fullwidth": fullwidth,
    "leet": leet,
}
# What normalisation promises to undo exactly (issue 6 item 2). `leet` is folded only in
# part (content words, not "d0" or "1"): measured, not promised.
UNDONE = ("base64", "hex", "rot13", "lookalikes", "invisible", "spaced", "fullwidth")

__all__ = ["OBFUSCATIONS", "UNDONE", "Obfuscation"]
