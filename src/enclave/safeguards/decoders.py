"""Decoding steps of normalisation: spaced letters, base64, hex, percent-encoding, ROT13.

Each decoder replaces an encoded passage in place with its decoding, so that the passage is
scored in its context and a text encoded whole scores exactly as its plain form. A passage is
decoded only when the result reads as text (``textlike``): hashes, keys and identifiers that
merely look like base64 or hex stay as they are.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from urllib.parse import unquote

from enclave.safeguards.unicode_fold import textlike

_LETTER = r"[^\W\d_]"

# "r.a.n.s.o.m" and "r-a-n-s-o-m": three or more single letters joined by one repeated
# separator, not touching other letters (so "config.py", "x-ray" and "e.g." stay; a spaced
# two-letter word like "t.o" is missed, a cost of leaving abbreviations alone). "/" and "+"
# are not separators: they occur in base64, paths and sums.
_SPACED_PUNCT = re.compile(
    rf"(?<!{_LETTER}){_LETTER}([.\-_*|·•~,])(?:{_LETTER}\1)+{_LETTER}(?!{_LETTER})"
)
# "r a n s o m": the same with single spaces.
_SPACED_SPACE = re.compile(rf"(?<!{_LETTER}){_LETTER}(?: {_LETTER}){{2,}}(?!{_LETTER})")
_SPACE_BETWEEN = re.compile(r"(?<=\S) (?=\S)")
_MULTISPACE = re.compile(r" {2,}")

_HEX_CONTIGUOUS = re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Za-z])")
_HEX_ESCAPED = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){4,}")
_HEX_SEPARATED = re.compile(
    r"(?<![0-9A-Za-z])(?:0x)?[0-9A-Fa-f]{2}(?:[ :,]{1,2}(?:0x)?[0-9A-Fa-f]{2}){7,}(?![0-9A-Za-z])"
)
_HEX_DIGITS = re.compile(r"(?:0x|\\x)?([0-9A-Fa-f]{2})")
_PERCENT = re.compile(r"\S*(?:%[0-9A-Fa-f]{2}\S*){3,}")
# 8 characters (6 bytes) at least; below 16, only a run with padding, a digit, "+" or "/"
# counts: shorter runs of letters are ordinary words and identifiers.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{8,}={0,2}(?![A-Za-z0-9+/=_-])")
_BASE64_MARK = re.compile(r"[0-9+/=]")

_ROT13 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)
_ROT13_SEGMENT = re.compile(r"[A-Za-z][A-Za-z' ,\-]{4,}")
_ALPHA_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]+(?![A-Za-z0-9_])")
_ROT13_HINT = re.compile(r"rot[\s\-_]?13|caesar", re.IGNORECASE)
_WORDS = re.compile(r"[a-z]+")
# Words common in English requests, security ones included. ROT13 maps almost none of them
# onto each other ("be" <-> "or" is the one pair), so a segment that gains several of them
# when rotated was written in ROT13.
_VOCAB = frozenset(
    """
    a about after all also an and any are as at be because been but by can could do does
    for from get give go has have how i if in into is it its just know like make me my need
    no not now of on one or our out please should so some such than that the their them then
    there these they this to up use using want was way we what when where which who why will
    with without would write you your tell show explain help step steps code script program
    create build find send steal access password passwords account accounts attack attacks
    hack hacking malware ransomware virus keylogger exploit exploits server network system
    systems computer file files data email emails bank user users target victim without
    bypass security detection antivirus firewall encrypt encrypts delete install run remote
    shell command python windows linux browser login credentials phishing botnet ddos
    """.split()
)


# English letter frequencies in percent (Lewand, "Cryptological Mathematics", 2000), a-z.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_FREQ = (
    8.17, 1.49, 2.78, 4.25, 12.70, 2.23, 2.02, 6.09, 6.97, 0.15, 0.77, 4.03, 2.41,
    6.75, 7.51, 1.93, 0.10, 5.99, 6.33, 9.06, 2.76, 0.98, 2.36, 0.15, 1.97, 0.07,
)  # fmt: skip
_LOG_FREQ = tuple(math.log(f / 100) for f in _FREQ)
# Below 20 letters the frequencies say little; the margin (nats per letter) was set on the
# training sources: no plain text of any source crosses it, every ROT13 text of 20 letters
# or more in English, Spanish, German, French, Italian or Portuguese does (tests check).
_MIN_LETTERS = 20
_ROT13_MARGIN = 0.1


def collapse_spacing(text: str) -> str:
    """Join letters written apart ("r a n s o m", "r.a.n.s.o.m") back into words."""
    tokens = text.split(" ")
    if len(tokens) >= 8:
        singles = sum(1 for t in tokens if len(t) == 1)
        if singles >= 0.6 * sum(1 for t in tokens if t):
            # Letter-spaced throughout: words are the runs between two or more spaces.
            text = _MULTISPACE.sub(" ", _SPACE_BETWEEN.sub("", text.replace("  ", "\0")))
            text = text.replace("\0", " ")
    text = _SPACED_PUNCT.sub(lambda m: m.group()[::2], text)
    return _SPACED_SPACE.sub(lambda m: m.group()[::2], text)


# Leetspeak: "k3yl0gg3r", "p@ssw0rd", "r4n50mw4r3". A token of letters and leet characters
# (0 1 3 4 5 7 @ $) is folded when a leet character sits between two letters. Left alone:
# tokens with any other digit (versions, "base64", "h264", hashes), leet digits only at the
# start or end ("rot13", "win10", "md5", "3des"; also "wr173", the price of that rule),
# numbers, and e-mail addresses. "1" reads as "i" ("l" is the other reading). Identifiers
# like "log4j" fold to "logaj": harmless, since training text is normalised the same way.
_LEET_TOKEN = re.compile(r"(?<![\w@$.])(?=[\w@$]*[A-Za-z])[A-Za-z0-9@$]*[013457@$][A-Za-z0-9@$]*")
_LEET = str.maketrans("013457@$", "oieastas")
_OTHER_DIGIT = re.compile(r"[2689]")
_INNER_LEET = re.compile(r"[A-Za-z][013457@$]+[A-Za-z]")


def _fold_leet(match: re.Match[str]) -> str:
    token = match.group()
    if _OTHER_DIGIT.search(token) or match.string[match.end() : match.end() + 1] == ".":
        return token  # a number-bearing identifier, or an e-mail address / host name
    if _INNER_LEET.search(token) is None:
        return token  # digits only at the start or end: "rot13", "win10", "3des", "md5"
    return token.translate(_LEET)


def fold_leet(text: str) -> str:
    if not any(c in text for c in "013457@$"):
        return text
    return _LEET_TOKEN.sub(_fold_leet, text)


def _decode_hex(match: re.Match[str]) -> str:
    digits = "".join(_HEX_DIGITS.findall(match.group()))
    decoded = textlike(bytes.fromhex(digits))
    return match.group() if decoded is None else decoded


def _decode_base64(match: re.Match[str]) -> str:
    if len(match.group()) < 16 and _BASE64_MARK.search(match.group()) is None:
        return match.group()
    token = match.group().rstrip("=")
    if len(token) % 4 == 1:
        return match.group()
    padded = token + "=" * (-len(token) % 4)
    try:
        if "-" in token or "_" in token:
            data = base64.urlsafe_b64decode(padded)
        else:
            data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return match.group()
    decoded = textlike(data)
    return match.group() if decoded is None else decoded


def _decode_percent(match: re.Match[str]) -> str:
    try:
        decoded = unquote(match.group(), errors="strict")
    except UnicodeDecodeError:
        return match.group()
    return decoded if textlike(decoded.encode()) is not None else match.group()


def _hits(text: str) -> int:
    # One-letter words ("a", "i") are too weak to count as evidence.
    return sum(1 for w in _WORDS.findall(text.lower()) if len(w) > 1 and w in _VOCAB)


def _letter_evidence(text: str) -> float:
    """Log-likelihood gain per letter of reading the text after ROT13, under English letter
    frequencies. About +1.0 for English written in ROT13, -1.0 for plain English; Spanish,
    German or French in ROT13 also score well above 0, since they share most of English's
    frequent letters."""
    # Letters of alphabetic words only: hex digests and identifiers mixing digits carry no
    # language (a sha256's a-f letters would otherwise look like ROT13).
    lowered = " ".join(_ALPHA_WORD.findall(text)).lower()
    counts = [lowered.count(ch) for ch in _ALPHABET]
    total = sum(counts)
    if total < _MIN_LETTERS:
        return 0.0
    gain = sum(c * (_LOG_FREQ[(i + 13) % 26] - _LOG_FREQ[i]) for i, c in enumerate(counts))
    return gain / total


def decode_rot13(text: str) -> str:
    """Rotate back text or passages that read as language only after ROT13."""
    hinted = _ROT13_HINT.search(text) is not None
    rotated_text = text.translate(_ROT13)
    # The whole text first, so that a text encoded whole decodes whole (single words
    # between punctuation carry no evidence of their own): letter frequencies must favour
    # the rotation, and near the margin the common-word count must not contradict it.
    evidence = _letter_evidence(text)
    if evidence > _ROT13_MARGIN and (evidence > 0.4 or _hits(rotated_text) >= _hits(text)):
        return rotated_text

    def segment(match: re.Match[str]) -> str:
        seg = match.group()
        rotated = seg.translate(_ROT13)
        seg_plain, seg_rot = _hits(seg), _hits(rotated)
        needed = 1 if hinted else 2
        if seg_rot < needed or seg_rot < 2 * seg_plain + 1:
            return seg
        # A long passage must also pass the letter test; a short one has only its words.
        evidence = _letter_evidence(seg)
        if evidence == 0.0 or evidence > _ROT13_MARGIN:
            return rotated
        return seg

    return _ROT13_SEGMENT.sub(segment, text)


def decode_encodings(text: str) -> tuple[str, tuple[str, ...]]:
    """One round of the byte-level decoders: percent-encoding, hex, base64."""
    steps: list[str] = []
    out = text
    if "%" in out:
        new = _PERCENT.sub(_decode_percent, out)
        if new != out:
            steps.append("percent")
            out = new
    new = _HEX_ESCAPED.sub(_decode_hex, out)
    new = _HEX_SEPARATED.sub(_decode_hex, new)
    new = _HEX_CONTIGUOUS.sub(_decode_hex, new)
    if new != out:
        steps.append("hex")
        out = new
    new = _BASE64.sub(_decode_base64, out)
    if new != out:
        steps.append("base64")
        out = new
    return out, tuple(steps)


__all__ = ["collapse_spacing", "decode_encodings", "decode_rot13", "fold_leet"]
