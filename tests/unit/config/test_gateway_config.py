"""Gateway settings: providers and model routes, validated at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclave.config import load_settings
from enclave.errors import ConfigError

OAI = '{"up": {"kind": "openai", "base_url": "https://api.example.com/v1/"}}'
ROUTE = '{"m": {"tiers": {"public": {"provider": "up", "variant": "m-1"}}}}'


def test_a_provider_and_a_route(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"ENCLAVE_PROVIDERS": OAI, "ENCLAVE_MODELS": ROUTE},
        config_path=tmp_path / "absent.toml",
    )
    assert settings.providers["up"].base_url == "https://api.example.com/v1"
    assert settings.models["m"].tiers["public"].variant == "m-1"


def test_toml(tmp_path: Path) -> None:
    path = tmp_path / "enclave.toml"
    path.write_text(
        """
[providers.claude]
kind = "anthropic"
base_url = "https://api.anthropic.com/v1"
api_key_env = "ANTHROPIC_API_KEY"
read_timeout = 60

[models.frontier.tiers.partner]
provider = "claude"
variant = "frontier-full"

[gateway]
store_bodies = true
"""
    )
    settings = load_settings(environ={}, config_path=path)
    assert settings.providers["claude"].api_key_env == "ANTHROPIC_API_KEY"
    assert settings.gateway.store_bodies is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENCLAVE_PROVIDERS": OAI.replace("https://", "file://")}, r"http\(s\) URL"),
        ({"ENCLAVE_PROVIDERS": OAI.replace("https://", "https://user:pw@")}, "credentials"),
        ({"ENCLAVE_PROVIDERS": OAI.replace("/v1/", "/v1?x=1")}, "query"),
        ({"ENCLAVE_MODELS": ROUTE}, "no providers"),
        ({"ENCLAVE_PROVIDERS": OAI}, "no models"),
        (
            {"ENCLAVE_PROVIDERS": OAI, "ENCLAVE_MODELS": ROUTE.replace('"up"', '"gone"')},
            "not configured",
        ),
        (
            {"ENCLAVE_PROVIDERS": OAI, "ENCLAVE_MODELS": ROUTE.replace("public", "vip")},
            "unknown tier",
        ),
        ({"ENCLAVE_PROVIDERS": OAI.replace('"up"', '"demo"'), "ENCLAVE_MODELS": ROUTE}, "reserved"),
        ({"ENCLAVE_PROVIDERS": OAI.replace('"openai"', '"gemini"')}, "kind"),
        (
            {"ENCLAVE_PROVIDERS": OAI.replace("}}", ', "api_key_env": "lower-case"}}')},
            "environment variable",
        ),
        ({"ENCLAVE_GATEWAY__RECORD_BATCH": "0"}, "record_batch"),
    ],
    ids=[
        "scheme",
        "credentials",
        "query",
        "models-without-providers",
        "providers-without-models",
        "unknown-provider",
        "unknown-tier",
        "demo-reserved",
        "unknown-kind",
        "bad-env-name",
        "batch-zero",
    ],
)
def test_invalid_gateway_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env, config_path=tmp_path / "absent.toml")
