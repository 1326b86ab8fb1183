"""Hashed word and character n-gram features, numpy only (the "hashing trick").

A text becomes the set of buckets its n-grams hash to: word 1- and 2-grams and character
3- to 5-grams of the normalised text (spaces included, so "rat " differs from "rate").
Character n-grams are hashed vectorised: code points as a uint64 array, a polynomial hash per
window, splitmix64's finaliser to spread bits, the top `bits` bits as the bucket. Words are
hashed with CRC-32 (stable across processes, unlike ``hash()``).

Measured on this machine (benchmarks/safeguards.py): about 40-90 us for a 300-character
prompt, which leaves the classifier inside DESIGN.md's 0.5 ms budget.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.int64]

_WORD = re.compile(r"\w+")
_U64 = np.uint64
# splitmix64 constants (Steele, Lea, Flood: "Fast splittable pseudorandom number
# generators", OOPSLA 2014); odd multipliers, so every step is a bijection on 64 bits.
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_PRIME = _U64(0x100000001B3)  # FNV-1a 64-bit prime, used as the polynomial base
_S30, _S27, _S31 = _U64(30), _U64(27), _U64(31)


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    h = (h ^ (h >> _S30)) * _M1
    h = (h ^ (h >> _S27)) * _M2
    return h ^ (h >> _S31)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Everything that fixes the feature space; stored in the model artefact."""

    bits: int = 18
    char_min: int = 3
    char_max: int = 5
    word_ngrams: int = 2
    # Texts are scored in windows of at most this many characters (see model.py).
    chunk_chars: int = 1500

    def __post_init__(self) -> None:
        if not 10 <= self.bits <= 24:
            raise ValueError("bits must be in [10, 24]")
        if not 1 <= self.char_min <= self.char_max <= 8:
            raise ValueError("expected 1 <= char_min <= char_max <= 8")
        if not 1 <= self.word_ngrams <= 3:
            raise ValueError("word_ngrams must be 1, 2 or 3")

    @property
    def dim(self) -> int:
        return 1 << self.bits


class Featuriser:
    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._shift = _U64(64 - spec.bits)
        # One salt per n-gram kind, so that the word "rat" and the trigram "rat" differ.
        self._salts = {n: _U64(0x9E3779B97F4A7C15 * (n + 1) % (1 << 64)) for n in range(1, 16)}

    def indices(self, text: str) -> IndexArray:
        """The sorted, distinct feature buckets of an already normalised text."""
        spec = self.spec
        parts: list[npt.NDArray[np.uint64]] = []
        padded = " " + text + " "
        codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        length = codes.shape[0]
        with np.errstate(over="ignore"):
            # The n-gram hash grows by one code point at a time: h_n[i] = h_(n-1)[i] * P +
            # codes[i + n - 1], the same polynomial as hashing each window from scratch.
            h = codes
            for n in range(2, min(spec.char_max, length) + 1):
                h = h[: length - n + 1] * _PRIME + codes[n - 1 :]
                if n >= spec.char_min:
                    parts.append(h ^ self._salts[n])
            if spec.char_min == 1 and length >= 1:
                parts.append(codes ^ self._salts[1])
            words = _WORD.findall(text)
            if words:
                w = np.fromiter(
                    (zlib.crc32(word.encode()) for word in words), dtype=np.uint64, count=len(words)
                )
                parts.append(w ^ self._salts[9])
                if spec.word_ngrams >= 2 and len(words) > 1:
                    parts.append((w[:-1] * _PRIME + w[1:]) ^ self._salts[10])
                if spec.word_ngrams >= 3 and len(words) > 2:
                    tri = (w[:-2] * _PRIME + w[1:-1]) * _PRIME + w[2:]
                    parts.append(tri ^ self._salts[11])
        if not parts:
            return np.zeros(0, dtype=np.int64)
        with np.errstate(over="ignore"):
            # One finaliser pass over every part (element-wise, so the same buckets).
            mixed = _mix(np.concatenate(parts))
        buckets = (mixed >> self._shift).astype(np.int64)
        return np.unique(buckets)


__all__ = ["FeatureSpec", "Featuriser", "IndexArray"]
