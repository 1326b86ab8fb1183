"""Settings: sources and their priority, masking of secrets, and errors that name the key
and the expected form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from enclave.config import DEFAULT_PURPOSES, Settings, load_settings
from enclave.errors import ConfigError

PEPPER = "a-very-secret-pepper-value-of-40-chars!!"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _load(environ: dict[str, str], cwd: Path) -> Settings:
    return load_settings(environ=environ)


def _error(environ: dict[str, str], cwd: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=environ)
    assert info.value.exit_code == 2
    return info.value.diagnostics()


# -- sources and priority -----------------------------------------------------------------


def test_defaults_without_any_source(cwd: Path) -> None:
    settings = _load({"PATH": "/usr/bin", "HOME": "/root"}, cwd)
    assert settings.database_url == "sqlite:///./enclave.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8400)
    assert settings.key_pepper is None
    assert set(settings.tiers) == {"public", "maintainer", "partner", "operator"}
    assert settings.tier("partner").approvals_required == 2


def test_environment_values_are_typed(cwd: Path) -> None:
    settings = _load(
        {
            "ENCLAVE_PORT": "9000",
            "ENCLAVE_DATABASE_URL": "postgresql://enclave@db:5432/enclave",
            "ENCLAVE_STATE_DIR": "/var/lib/enclave",
            "ENCLAVE_PURPOSES": json.dumps([*DEFAULT_PURPOSES, "research"]),
        },
        cwd,
    )
    assert settings.port == 9000
    assert settings.database_url.startswith("postgresql://")
    assert settings.state_dir == Path("/var/lib/enclave")
    assert settings.purposes == (*DEFAULT_PURPOSES, "research")


def test_toml_file_in_the_working_directory(cwd: Path) -> None:
    (cwd / "enclave.toml").write_text(
        'port = 9100\nhost = "0.0.0.0"\n\n'
        '[tiers.public]\npurposes = ["general"]\nmax_key_days = 7\n'
    )
    settings = _load({}, cwd)
    assert (settings.host, settings.port) == ("0.0.0.0", 9100)
    # A tier table in the file replaces the default table (documented in README).
    assert set(settings.tiers) == {"public"}
    assert settings.tier("public").max_key_days == 7


def test_environment_wins_over_file_wins_over_default(cwd: Path) -> None:
    other = cwd / "conf" / "other.toml"
    other.parent.mkdir()
    other.write_text('port = 9100\nhost = "10.0.0.1"\n')
    (cwd / "enclave.toml").write_text("port = 1111\n")
    settings = _load({"ENCLAVE_CONFIG": str(other), "ENCLAVE_PORT": "9200"}, cwd)
    assert settings.port == 9200  # env over file
    assert settings.host == "10.0.0.1"  # ENCLAVE_CONFIG's file, not ./enclave.toml
    assert settings.max_body_bytes == 1_048_576  # default


def test_nested_variable_changes_one_field_of_the_tier_table(cwd: Path) -> None:
    settings = _load({"ENCLAVE_TIERS__PUBLIC__MAX_KEY_DAYS": "30"}, cwd)
    assert settings.tier("public").max_key_days == 30
    assert settings.tier("public").purposes == ("general",)
    assert set(settings.tiers) == {"public", "maintainer", "partner", "operator"}

    (cwd / "enclave.toml").write_text('[tiers.gold]\npurposes = ["general"]\n')
    settings = _load({"ENCLAVE_TIERS__GOLD__APPROVALS_REQUIRED": "3"}, cwd)
    assert set(settings.tiers) == {"gold"}
    assert settings.tier("gold").approvals_required == 3


def test_command_variables_are_not_settings(cwd: Path) -> None:
    settings = _load(
        {"ENCLAVE_OPERATOR": "alice", "ENCLAVE_CLI_KEY_ORG": "Acme", "ENCLAVE_CLI_JSON": "1"},
        cwd,
    )
    assert settings.port == 8400


def test_settings_are_frozen(cwd: Path) -> None:
    settings = _load({}, cwd)
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


# -- secrets --------------------------------------------------------------------------------


def test_key_pepper_prints_masked(cwd: Path) -> None:
    settings = _load({"ENCLAVE_KEY_PEPPER": PEPPER}, cwd)
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.key_pepper)):
        assert PEPPER not in text
        assert "**********" in text
    assert settings.key_pepper is not None
    assert settings.key_pepper.get_secret_value() == PEPPER


def test_errors_never_echo_the_pepper(cwd: Path) -> None:
    message = _error({"ENCLAVE_KEY_PEPPER": PEPPER, "ENCLAVE_PORT": "x"}, cwd)
    assert PEPPER not in message
    (cwd / "enclave.toml").write_text(f'key_pepper = "{PEPPER}"\nport = "x"\n')
    assert PEPPER not in _error({}, cwd)


# -- invalid values: ConfigError naming the key and the expected form ------------------------


@pytest.mark.parametrize(
    ("environ", "fragments"),
    [
        pytest.param(
            {"ENCLAVE_PORT": "eighty"},
            ["port (env ENCLAVE_PORT)", "valid integer"],
            id="port-not-a-number",
        ),
        pytest.param(
            {"ENCLAVE_PORT": "70000"},
            ["port (env ENCLAVE_PORT)", "less than or equal to 65535"],
            id="port-out-of-range",
        ),
        pytest.param(
            {"ENCLAVE_DATABASE_URL": "mysql://root@db/enclave"},
            ["database_url (env ENCLAVE_DATABASE_URL)", "expected sqlite:///PATH or postgresql://"],
            id="unknown-backend",
        ),
        pytest.param(
            {"ENCLAVE_TIERS__PUBLIC__PURPOSES": '["general", "exploitation"]'},
            ["tiers.public.purposes", "unknown purpose(s) ['exploitation']", "expected a subset"],
            id="tier-names-unknown-purpose",
        ),
        pytest.param(
            {"ENCLAVE_TIERS__PUBLIC__APPROVALS_REQUIRED": "0"},
            ["tiers.public.approvals_required", "greater than or equal to 1"],
            id="tier-approvals-zero",
        ),
        pytest.param(
            {"ENCLAVE_TIERS": "{}"},
            ["tiers (env ENCLAVE_TIERS)", "at least one tier"],
            id="no-tiers",
        ),
        pytest.param(
            {"ENCLAVE_DATABSE_URL": "sqlite:///x.db"},
            ["databse_url (env ENCLAVE_DATABSE_URL)", "unknown setting", "database_url"],
            id="unknown-variable",
        ),
        pytest.param(
            {"ENCLAVE_PURPOSES": '["general"'},
            ["ENCLAVE_PURPOSES", "not valid JSON"],
            id="bad-json",
        ),
        pytest.param(
            {"ENCLAVE_TIERS__PUBLIC__COLOUR": "red"},
            ["tiers.public.colour (env ENCLAVE_TIERS__PUBLIC__COLOUR)"],
            id="unknown-tier-field",
        ),
    ],
)
def test_invalid_environment(environ: dict[str, str], fragments: list[str], cwd: Path) -> None:
    message = _error(environ, cwd)
    assert message.startswith("invalid configuration: ")
    for fragment in fragments:
        assert fragment in message


def test_bad_toml_names_the_file(cwd: Path) -> None:
    (cwd / "enclave.toml").write_text("port = = 1\n")
    message = _error({}, cwd)
    assert "enclave.toml: not valid TOML" in message


def test_toml_that_is_not_utf8(cwd: Path) -> None:
    (cwd / "enclave.toml").write_bytes(b'host = "\xff"\n')
    assert "not valid TOML" in _error({}, cwd)


def test_bad_value_in_toml_names_the_key(cwd: Path) -> None:
    (cwd / "enclave.toml").write_text('port = "high"\n')
    assert "port (env ENCLAVE_PORT): Input should be a valid integer" in _error({}, cwd)
    (cwd / "enclave.toml").write_text("colour = 1\n")
    assert "colour (env ENCLAVE_COLOUR): unknown setting" in _error({}, cwd)


def test_enclave_config_pointing_nowhere(cwd: Path) -> None:
    message = _error({"ENCLAVE_CONFIG": str(cwd / "missing.toml")}, cwd)
    assert f"ENCLAVE_CONFIG names {cwd / 'missing.toml'}, which does not exist" in message


def test_unknown_tier_lookup(cwd: Path) -> None:
    with pytest.raises(ConfigError, match="unknown tier 'gold'") as info:
        _load({}, cwd).tier("gold")
    assert "maintainer, operator, partner, public" in info.value.diagnostics()
