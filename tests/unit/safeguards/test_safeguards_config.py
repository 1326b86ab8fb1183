"""The [safeguards] table of Settings: defaults, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclave.config import load_settings
from enclave.errors import ConfigError


def test_defaults_mirror_the_shipped_policies(tmp_path: Path) -> None:
    config = load_settings(environ={}, config_path=tmp_path / "absent.toml").safeguards
    assert config.thresholds["public"].block_at == 0.8
    assert config.thresholds["partner"].block_at is None
    assert not config.judge.enabled
    assert config.model_path is None and config.taxonomy_path is None


def test_environment_and_file_override(tmp_path: Path) -> None:
    path = tmp_path / "enclave.toml"
    path.write_text(
        "[safeguards]\nwindow_turns = 6\n[safeguards.thresholds.public]\nblock_at = 0.7\n"
    )
    env = {
        "ENCLAVE_SAFEGUARDS__JUDGE__ENABLED": "true",
        "ENCLAVE_SAFEGUARDS__JUDGE__BASE_URL": "http://127.0.0.1:8000/v1",
        "ENCLAVE_SAFEGUARDS__JUDGE__MODEL": "guard",
        "ENCLAVE_SAFEGUARDS__JUDGE__API_KEY": "sk-secret",
    }
    config = load_settings(environ=env, config_path=path).safeguards
    assert config.window_turns == 6 and config.thresholds["public"].block_at == 0.7
    assert config.judge.enabled and "sk-secret" not in repr(config.judge)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENCLAVE_SAFEGUARDS__JUDGE__ENABLED": "true"}, "needs judge.base_url"),
        (
            {
                "ENCLAVE_SAFEGUARDS__JUDGE__BAND_LOW": "0.9",
                "ENCLAVE_SAFEGUARDS__JUDGE__BAND_HIGH": "0.5",
            },
            "band_low",
        ),
        ({"ENCLAVE_SAFEGUARDS__JUDGE__BASE_URL": "ftp://x"}, "http:// or https://"),
        ({"ENCLAVE_SAFEGUARDS__THRESHOLDS": '{"public": {"block_at": 2}}'}, "block_at"),
        ({"ENCLAVE_SAFEGUARDS__WINDOW_TURNS": "0"}, "window_turns"),
        ({"ENCLAVE_SAFEGUARDS__COLOUR": "red"}, "colour"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env, config_path=tmp_path / "absent.toml")
