"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile paths, tile and entry-bundle
encoding, and complete-subtree hashes read from tiles.

A tile at level L, index N holds up to 256 consecutive hashes of tree level 8L, from node
N*256 on; a partial tile (``.p/<W>``) holds the first W < 256 of them. Level-0 tiles are
leaf hashes. An entry bundle (``tile/entries/N``) holds the entries of leaves N*256 on,
each as a big-endian uint16 length and the entry bytes. Index N is written in groups of
three digits, all but the last prefixed with ``x``: 1234067 -> ``x001/x234/067``.
"""

from __future__ import annotations

import re

from enclave.auditlog.interface import (
    MAX_ENTRY,
    TILE_HEIGHT,
    TILE_WIDTH,
    LogInputError,
    LogNotFound,
    TileSource,
    VerificationFailed,
)
from enclave.auditlog.merkle import HASH_SIZE, subtree_root

MAX_LEVEL = 63
_INDEX_PATH = re.compile(r"(?:x[0-9]{3}/)*[0-9]{3}")


def encode_index(n: int) -> str:
    if n < 0:
        raise LogInputError(f"tile index {n} is negative")
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def decode_index(path: str) -> int:
    """The inverse of :func:`encode_index`; refuses non-canonical forms (``x000/001``)."""
    if not _INDEX_PATH.fullmatch(path):
        raise LogInputError(f"tile index path {path!r}: expected groups like x001/x234/067")
    n = int(path.replace("x", "").replace("/", ""))
    if encode_index(n) != path:
        raise LogInputError(f"tile index path {path!r} is not canonical ({encode_index(n)})")
    return n


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``; ``level`` is an int or ``"entries"``."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


def parse_tile_path(rest: str) -> tuple[int, int]:
    """``<N>[.p/<W>]`` -> (index, width)."""
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, w = rest.partition(".p/")
        if not re.fullmatch(r"[1-9][0-9]{0,2}", w) or not 1 <= int(w) < TILE_WIDTH:
            raise LogInputError(f"partial tile width {w!r}: expected 1 to 255")
        width = int(w)
    return decode_index(rest), width


def tile_width(size: int, level: int, index: int) -> int:
    """How many hashes tile (level, index) holds in a tree of ``size`` leaves (0..256)."""
    nodes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def encode_bundle(entries: list[bytes]) -> bytes:
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise LogInputError(f"entry of {len(entry)} bytes exceeds {MAX_ENTRY}")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_bundle(data: bytes) -> list[bytes]:
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise LogInputError("entry bundle ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            raise LogInputError("entry bundle ends inside an entry")
        entries.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return entries


def split_hashes(data: bytes) -> list[bytes]:
    if len(data) % HASH_SIZE:
        raise LogInputError(f"tile of {len(data)} bytes is not a whole number of hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class TiledTree:
    """Complete-subtree hashes of a tree of ``size`` leaves, read tile by tile.

    A node at level 8t + s is hashed up from 2**s hashes of the stored level 8t, all in one
    tile; each tile is read once. An inclusion or consistency proof at size n therefore
    reads O(log n / 8) tiles of at most 256 hashes: 3 tiles at 10**6 leaves.
    """

    def __init__(self, source: TileSource, size: int) -> None:
        self._source = source
        self.size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        key = (level, index)
        cached = self._tiles.get(key)
        if cached is None:
            width = tile_width(self.size, level, index)
            if width == 0:
                raise LogNotFound(f"tile {level}/{index} is beyond tree size {self.size}")
            start = index * TILE_WIDTH
            cached = self._source.read_hashes(TILE_HEIGHT * level, start, start + width)
            if len(cached) != width:
                found = len(cached)
                raise VerificationFailed(
                    f"stored tree is missing hashes: level {TILE_HEIGHT * level} has "
                    f"{found} of {width} at index {start + found}",
                )
            self._tiles[key] = cached
        return cached

    def complete(self, level: int, index: int) -> bytes:
        stored, rise = divmod(level, TILE_HEIGHT)
        first = index << rise
        tile = self.tile(stored, first // TILE_WIDTH)
        offset = first % TILE_WIDTH
        return subtree_root(tile[offset : offset + (1 << rise)])


__all__ = [
    "MAX_LEVEL",
    "TiledTree",
    "decode_bundle",
    "decode_index",
    "encode_bundle",
    "encode_index",
    "parse_tile_path",
    "split_hashes",
    "tile_path",
    "tile_width",
]
