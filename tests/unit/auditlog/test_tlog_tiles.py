"""C2SP tlog-tiles paths and encodings."""

from __future__ import annotations

import pytest

from enclave.auditlog import LogInputError
from enclave.auditlog.tiles import (
    decode_bundle,
    decode_index,
    encode_bundle,
    encode_index,
    parse_tile_path,
    split_hashes,
    tile_path,
    tile_width,
)


@pytest.mark.parametrize(
    ("n", "path"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_paths_follow_the_spec(n: int, path: str) -> None:
    # The 1234067 example is the one C2SP tlog-tiles gives.
    assert encode_index(n) == path
    assert decode_index(path) == n


@pytest.mark.parametrize("path", ["1", "0001", "x000/001", "x1/000", "001/x002", "abc", ""])
def test_non_canonical_index_paths_are_refused(path: str) -> None:
    with pytest.raises(LogInputError):
        decode_index(path)


def test_tile_paths_and_partial_widths() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 3, 17) == "tile/1/003.p/17"
    assert tile_path("entries", 0, 5) == "tile/entries/000.p/5"
    assert parse_tile_path("003.p/17") == (3, 17)
    assert parse_tile_path("x001/000") == (1000, 256)
    for bad in ("000.p/0", "000.p/256", "000.p/01", "000.p/x"):
        with pytest.raises(LogInputError, match="partial tile width"):
            parse_tile_path(bad)


def test_tile_widths_follow_the_tree_size() -> None:
    assert tile_width(0, 0, 0) == 0
    assert tile_width(300, 0, 0) == 256
    assert tile_width(300, 0, 1) == 44
    assert tile_width(300, 1, 0) == 1
    assert tile_width(300, 0, 2) == 0
    assert tile_width(256 * 256 * 3 + 5, 2, 0) == 3


def test_entry_bundles_round_trip_and_refuse_truncation() -> None:
    entries = [b"", b"a", b"x" * 65535]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a"
    assert decode_bundle(data) == entries
    with pytest.raises(LogInputError, match="length prefix"):
        decode_bundle(b"\x00")
    with pytest.raises(LogInputError, match="inside an entry"):
        decode_bundle(b"\x00\x05abc")
    with pytest.raises(LogInputError, match="exceeds"):
        encode_bundle([b"x" * 65536])
    with pytest.raises(LogInputError, match="whole number"):
        split_hashes(b"x" * 33)
