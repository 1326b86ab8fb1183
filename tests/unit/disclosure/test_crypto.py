from __future__ import annotations

from pathlib import Path

import pytest

from enclave.disclosure import Sealer, Validators, ensure_key_file, load_key
from enclave.errors import ConfigError, StoreError


def test_round_trip_and_binding_to_context() -> None:
    sealer = Sealer(b"k" * 32)
    blob = sealer.seal(b"secret details", "finding:a:d")
    assert b"secret details" not in blob
    assert sealer.open(blob, "finding:a:d") == b"secret details"
    with pytest.raises(StoreError, match="does not decrypt"):
        sealer.open(blob, "finding:b:d")  # copied into another row
    with pytest.raises(StoreError, match="does not decrypt"):
        Sealer(b"j" * 32).open(blob, "finding:a:d")


def test_key_file_created_once_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "disclosure.key"
    ensure_key_file(path)
    first = path.read_bytes()
    ensure_key_file(path)
    assert path.read_bytes() == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(load_key(path, None)) == 32


def test_env_key_wins_and_bad_keys_are_config_errors(tmp_path: Path) -> None:
    assert load_key(tmp_path / "absent", "ab" * 32) == b"\xab" * 32
    with pytest.raises(ConfigError, match="missing"):
        load_key(tmp_path / "absent", None)
    with pytest.raises(ConfigError, match="64 hex"):
        load_key(tmp_path / "absent", "abcd")


def test_missing_schema_dir_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load advisory schemas"):
        Validators(tmp_path)
