from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enclave.config import Settings, load_settings
from enclave.gateway.client_errors import BadRequest, ModelNotAvailable, ModelNotFound
from enclave.gateway.providers import build_providers
from enclave.gateway.routing import Router


def _settings(tmp_path: Path, **values: Any) -> Settings:
    base = load_settings(environ={}, config_path=tmp_path / "absent.toml")
    return Settings.model_validate({**base.model_dump(), **values})


PROVIDERS = {
    "oai": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
    "ant": {"kind": "anthropic", "base_url": "http://127.0.0.1:1/v1"},
}
MODELS = {
    "frontier": {
        "tiers": {
            "partner": {"provider": "ant", "variant": "frontier-full"},
            "public": {"provider": "ant", "variant": "frontier-safeguarded"},
        }
    },
    "small": {"tiers": {"public": {"provider": "oai", "variant": "small-1"}}},
}


def _router(settings: Settings) -> Router:
    return Router(settings, build_providers(settings, environ={}))


def test_per_tier_variants(tmp_path: Path) -> None:
    router = _router(_settings(tmp_path, providers=PROVIDERS, models=MODELS))
    assert router.resolve("frontier", "partner", "anthropic").variant == "frontier-full"
    assert router.resolve("frontier", "public", "anthropic").variant == "frontier-safeguarded"
    assert router.resolve("small", "public", "openai").provider.name == "oai"
    assert [m.id for m in router.models_for("public")] == ["frontier", "small"]
    assert [m.id for m in router.models_for("partner")] == ["frontier"]
    assert router.models_for("maintainer") == ()


def test_refusals(tmp_path: Path) -> None:
    router = _router(_settings(tmp_path, providers=PROVIDERS, models=MODELS))
    with pytest.raises(ModelNotFound):
        router.resolve("nope", "public", "openai")
    with pytest.raises(ModelNotAvailable):
        router.resolve("small", "partner", "openai")
    with pytest.raises(BadRequest, match="other API"):
        router.resolve("frontier", "public", "openai")


def test_the_tier_table_can_narrow_further(tmp_path: Path) -> None:
    base = load_settings(environ={}, config_path=tmp_path / "absent.toml")
    tiers = {name: tier.model_dump() for name, tier in base.tiers.items()}
    tiers["public"]["models"] = ["small"]
    router = _router(_settings(tmp_path, providers=PROVIDERS, models=MODELS, tiers=tiers))
    with pytest.raises(ModelNotAvailable):
        router.resolve("frontier", "public", "anthropic")
    assert [m.id for m in router.models_for("public")] == ["small"]


def test_demo_mode_serves_only_demo_to_every_tier(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    router = _router(settings)
    for tier in settings.tiers:
        assert router.resolve("demo", tier, "openai").provider.kind == "demo"
        assert router.resolve("demo", tier, "anthropic").variant == "demo"
        assert [m.id for m in router.models_for(tier)] == ["demo"]
