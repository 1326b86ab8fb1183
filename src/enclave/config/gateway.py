"""Gateway configuration: upstream providers, public models and their per-tier routes.

Threat model: upstream URLs come only from here, the operator's configuration. Nothing a
client sends (model name, header, body) can make the gateway connect to an address of
its choosing; a model name only selects one of the routes below (no SSRF).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Reserved for the built-in demo provider (served only while no provider is configured).
DEMO = "demo"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,119}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r}: expected 1-120 characters of letters, digits and . _ : / -"
        )
    return value


class ProviderConfig(BaseModel):
    """One upstream: an OpenAI-compatible or an Anthropic Messages API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai", "anthropic"]
    # e.g. https://api.openai.com/v1 or https://api.anthropic.com/v1; the gateway appends
    # /chat/completions, /messages.
    base_url: str
    # Name of the environment variable holding the provider's key (never the key itself,
    # so that enclave.toml can be committed and shown).
    api_key_env: str | None = None
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    # Longest silence from the upstream, before the first byte and between chunks.
    read_timeout: float = Field(default=300.0, gt=0, le=3600)
    max_connections: int = Field(default=100, ge=1, le=10_000)
    # OpenAI streams carry usage only when asked (stream_options.include_usage); the
    # gateway asks, and hides the extra chunk from clients that did not.
    stream_usage: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s) URL such as https://api.openai.com/v1")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must not carry credentials, a query or a fragment")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("expected an environment variable name such as OPENAI_API_KEY")
        return value


class ModelRoute(BaseModel):
    """Where one tier's requests for a public model go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    # The model variant: the name sent upstream and the resource policies decide on.
    variant: str

    @field_validator("variant")
    @classmethod
    def _variant(cls, value: str) -> str:
        return _name(value, "variant")


class ModelConfig(BaseModel):
    """A public model name; a tier without a route cannot use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    tiers: dict[str, ModelRoute]


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Prompt and completion bodies are recorded by content hash; with this on they are
    # also kept, content-addressed, under state_dir/bodies (operator's choice: they may
    # hold customer code and findings).
    store_bodies: bool = False
    # Events are written in batches: at most this many per transaction, at least every
    # flush interval while any are waiting.
    record_batch: int = Field(default=500, ge=1, le=10_000)
    record_interval_ms: int = Field(default=50, ge=1, le=10_000)
    # Request headers larger than this in total are refused (431).
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)


def check_routes(
    providers: dict[str, ProviderConfig], models: dict[str, ModelConfig], tiers: set[str]
) -> None:
    """Cross-field checks: every route names a configured provider and a known tier."""
    if DEMO in providers:
        raise ValueError(f"providers: the name {DEMO!r} is reserved for the demo provider")
    if models and not providers:
        raise ValueError("models are configured but no providers: add a [providers.NAME] table")
    if providers and not models:
        raise ValueError("providers are configured but no models: add a [models.NAME] table")
    for name, model in models.items():
        _name(name, "model name")
        for tier, route in model.tiers.items():
            where = f"models.{name}.tiers.{tier}"
            if tier not in tiers:
                raise ValueError(f"{where}: unknown tier; expected one of {sorted(tiers)}")
            if route.provider not in providers:
                raise ValueError(
                    f"{where}.provider {route.provider!r} is not configured; "
                    f"expected one of {sorted(providers)}"
                )


__all__ = [
    "DEMO",
    "GatewayConfig",
    "ModelConfig",
    "ModelRoute",
    "ProviderConfig",
    "check_routes",
]
