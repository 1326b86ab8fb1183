"""Unicode steps of normalisation: NFKC, invisible characters, confusables, diacritics.

Threat model: the requester controls every code point of the prompt and wants the model
upstream to read a request the classifier does not see. A model reads through look-alike
letters, invisible characters and stacked accents; the classifier's features must see the
same letters, so these steps map each trick back to plain Latin text.
"""

from __future__ import annotations

import re
import unicodedata

# Format characters (Unicode general category Cf) and other code points that render as
# nothing: zero-width space/joiners, bidi controls, word joiner, BOM, soft hyphen, Hangul
# fillers (used as invisible "letters"), Mongolian and Khmer invisibles. The ranges are
# Unicode 15.1's Cf list; tests/unit/safeguards check them against `unicodedata`.
_INVISIBLE = re.compile(
    "["
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f"
    "]+"
)

# Tag characters U+E0020..U+E007E mirror printable ASCII. A run of them is "ASCII smuggling"
# (text invisible on screen that a model still reads), so a run is decoded, not dropped.
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]{4,}")

# Variation selectors: VS1-16 (U+FE00..FE0F) and VS17-256 (U+E0100..E01EF). One after an
# emoji picks a glyph; a long run encodes one byte per selector (the "emoji smuggling" trick:
# VS1..VS16 carry 0..15, VS17..VS256 carry 16..255).
_VS_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{4,}")
_VS_ANY = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]+")

# Combining marks on a Latin letter ("zalgo" text stacks them on each one; accents are the
# gentle case). Marks on other scripts (Cyrillic "й", Indic and Thai vowel signs) are kept.
_COMBINING = re.compile(
    "(?<=[A-Za-z])[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)

# Look-alikes from Unicode's confusables.txt (UTS #39) whose prototype is a Latin letter:
# Cyrillic, Greek and Armenian letters, and Latin letters NFKC leaves alone.
_CONFUSABLE_PAIRS = (
    # Cyrillic lower case
    "а a", "е e", "ё e", "і i", "ї i", "ј j", "к k", "о o", "р p", "с c", "у y", "х x",
    "ѕ s", "һ h", "ԁ d", "ԛ q", "ԝ w", "ӏ l", "ү y",
    # Cyrillic upper case
    "А A", "В B", "Е E", "К K", "М M", "Н H", "О O", "Р P", "С C", "Т T", "Х X", "У Y",
    "І I", "Ј J", "Ѕ S", "Ԁ D", "Ԛ Q", "Ԝ W", "Ү Y", "Һ H", "Ӏ I",
    # Greek lower case
    "α a", "ο o", "ν v", "ι i", "κ k", "ρ p", "τ t", "υ u", "χ x", "ε e", "γ y", "η n",
    "ω w", "μ u",
    # Greek upper case
    "Α A", "Β B", "Ε E", "Ζ Z", "Η H", "Ι I", "Κ K", "Μ M", "Ν N", "Ο O", "Ρ P", "Τ T",
    "Υ Y", "Χ X",
    # Armenian
    "օ o", "ս u", "հ h", "ո n", "ց g", "ք f",
    # Latin letters outside NFKC's reach
    "ı i", "ȷ j", "ɡ g", "ɑ a", "ʏ y", "ɩ i", "ꓲ I",
)  # fmt: skip
_CONFUSABLES = {ord(pair[0]): pair[2] for pair in _CONFUSABLE_PAIRS}
_CONFUSABLE_RE = re.compile("[" + "".join(pair[0] for pair in _CONFUSABLE_PAIRS) + "]")
_WORD = re.compile(r"\w+")
_ASCII_LETTER = re.compile("[A-Za-z]")


def textlike(data: bytes) -> str | None:
    """The bytes as text when they read as text, else None.

    Random bytes (hashes, keys, compressed data) are valid UTF-8 and printable with a
    probability of about (95/256) per byte: below 1e-5 for the 12-byte minimum here.
    """
    if len(data) < 4:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    # Letters, marks and digits: Thai and Devanagari vowel signs are marks, not alnum.
    wordlike = sum(1 for ch in text if unicodedata.category(ch)[0] in "LMN")
    if printable < 0.97 * len(text) or wordlike < 0.4 * len(text):
        return None
    return text


def _decode_tags(match: re.Match[str]) -> str:
    return " " + "".join(chr(ord(ch) - 0xE0000) for ch in match.group()) + " "


def _decode_selectors(match: re.Match[str]) -> str:
    data = bytes(
        ord(ch) - 0xFE00 if ord(ch) <= 0xFE0F else ord(ch) - 0xE0100 + 16 for ch in match.group()
    )
    decoded = textlike(data)
    return " " + decoded + " " if decoded is not None else ""


def _fold_word(match: re.Match[str]) -> str:
    word = match.group()
    if _ASCII_LETTER.search(word) is None:
        return word
    return word.translate(_CONFUSABLES)


def fold_confusables(text: str) -> str:
    """Map look-alike letters to Latin where the text is Latin.

    Folding every Cyrillic "а" would mangle Russian text, so a word is folded when it mixes
    scripts or when Latin letters outnumber Greek, Cyrillic and Armenian ones in the text (a
    whole-script spoof inside English prose, UTS #39 section 5).
    """
    if _CONFUSABLE_RE.search(text) is None:
        return text
    # Only the scripts that have look-alikes vote: a Cyrillic "с" inside Thai text is a
    # spoof of the Latin "c" around it, not Russian.
    latin = other = 0
    for ch in text:
        if ch.isascii():
            latin += ch.isalpha()
        elif "\u0370" <= ch <= "\u058f" and ch.isalpha():
            other += 1
    if latin >= other or other < 4:
        return text.translate(_CONFUSABLES)
    return _WORD.sub(_fold_word, text)


def fold_unicode(text: str) -> tuple[str, tuple[str, ...]]:
    """NFKC, invisible characters, smuggled tag/selector text, diacritics, confusables.

    Returns the text and the names of the steps that changed it. ASCII text skips all of
    it (the common case, and a measured half of the normaliser's time otherwise).
    """
    if text.isascii():
        return text, ()
    steps: list[str] = []
    out = _TAG_RUN.sub(_decode_tags, text)
    if out != text:
        steps.append("tags")
    before = out
    out = _VS_RUN.sub(_decode_selectors, out)
    out = _VS_ANY.sub("", out)
    out = _INVISIBLE.sub("", out)
    if out != before:
        steps.append("invisible")
    before = out
    out = unicodedata.normalize("NFKC", out)
    if not out.isascii():
        # Decompose so that accents become combining marks, drop those on Latin letters,
        # recompose what is left.
        decomposed = unicodedata.normalize("NFD", out)
        stripped = _COMBINING.sub("", decomposed)
        if stripped != decomposed:
            out = unicodedata.normalize("NFC", stripped)
        out = fold_confusables(out)
    if out != before:
        steps.append("unicode")
    return out, tuple(steps)


__all__ = ["fold_confusables", "fold_unicode", "textlike"]
