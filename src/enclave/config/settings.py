"""One typed ``Settings``, built once at start and passed down.

Sources, highest priority first: ``ENCLAVE_*`` environment variables (nested keys with
``__``, e.g. ``ENCLAVE_TIERS__PUBLIC__PURPOSES='["general"]'``; values starting with ``[`` or
``{`` are JSON), then ``enclave.toml`` (path in ``ENCLAVE_CONFIG``, default ``./enclave.toml``,
optional), then the defaults below.
Nothing here is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from enclave.errors import ConfigError

DEFAULT_PURPOSES: tuple[str, ...] = (
    "vuln-detection",
    "binary-testing",
    "endpoint-security",
    "penetration-testing",
    "remediation",
    "general",
)


class TierConfig(BaseModel):
    """What one tier may do. Tiers are data, never branches in code paths."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    purposes: tuple[str, ...]
    # Public model names (or variant names) the tier may use; "*" means every configured one.
    models: tuple[str, ...] = ()
    # Four-eyes: how many distinct operators must approve an organisation into this tier.
    approvals_required: int = Field(default=1, ge=1, le=5)
    # Longest key lifetime an operator may issue in this tier (days).
    max_key_days: int = Field(default=365, ge=1)


def _default_tiers() -> dict[str, TierConfig]:
    return {
        "public": TierConfig(
            description="General access; safeguards block prohibited and high-risk requests.",
            purposes=("general",),
            models=("*",),
            approvals_required=1,
            max_key_days=90,
        ),
        "maintainer": TierConfig(
            description="Open-source maintainers, subsidised, on their own projects.",
            purposes=("vuln-detection", "remediation", "general"),
            models=("*",),
            approvals_required=2,
        ),
        "partner": TierConfig(
            description="Vetted defenders on their own verified assets.",
            purposes=DEFAULT_PURPOSES,
            models=("*",),
            approvals_required=2,
        ),
        "operator": TierConfig(
            description="Programme staff.",
            purposes=DEFAULT_PURPOSES,
            models=("*",),
            approvals_required=2,
        ),
    }


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = "sqlite:///./enclave.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    # Files that must never live in the database: the key pepper, signing keys, the
    # first operator token. Created by `enclave init` with mode 0600.
    state_dir: Path = Path(".enclave")
    # Server-side secret mixed into every API key hash. When unset it is read from
    # state_dir/key-pepper (created by `enclave init`).
    key_pepper: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_json_depth: int = Field(default=64, ge=4, le=1000)
    approval_validity_days: int = Field(default=365, ge=1)
    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    tiers: dict[str, TierConfig] = Field(default_factory=_default_tiers)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        return value

    @field_validator("tiers")
    @classmethod
    def _tiers_nonempty(cls, value: dict[str, TierConfig]) -> dict[str, TierConfig]:
        if not value:
            raise ValueError("expected at least one tier")
        return value

    def model_post_init(self, __context: Any) -> None:
        known = set(self.purposes)
        for name, tier in self.tiers.items():
            unknown = sorted(set(tier.purposes) - known)
            if unknown:
                raise ValueError(
                    f"tiers.{name}.purposes names unknown purpose(s) {unknown}; "
                    f"expected a subset of {sorted(known)}"
                )

    @property
    def key_pepper_path(self) -> Path:
        return self.state_dir / "key-pepper"

    @property
    def operator_token_path(self) -> Path:
        return self.state_dir / "operator-token"

    def tier(self, name: str) -> TierConfig:
        try:
            return self.tiers[name]
        except KeyError:
            raise ConfigError(
                f"unknown tier {name!r}", hint=f"configured tiers: {', '.join(sorted(self.tiers))}"
            ) from None


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error.get("loc", ()))
    env = "ENCLAVE_" + "__".join(str(p).upper() for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    return f"{key or '(settings)'} (env {env}): {message}"


def load_settings(
    *, environ: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    """Build Settings, or raise ConfigError naming the bad key and the expected form."""
    env = os.environ if environ is None else environ
    path = config_path or Path(env.get("ENCLAVE_CONFIG", "enclave.toml"))
    file_values: dict[str, Any] = {}
    if path.exists():
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    elif "ENCLAVE_CONFIG" in env:
        raise ConfigError(f"ENCLAVE_CONFIG names {path}, which does not exist")
    scrubbed = {k: v for k, v in env.items() if k != "ENCLAVE_CONFIG"}
    try:
        return _build(file_values, scrubbed)
    except ValidationError as exc:
        details = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration: {details}") from None
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _merge(base: dict[str, Any], path: list[str], value: Any) -> None:
    node = base
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _build(file_values: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    values = dict(file_values)
    for name, raw in environ.items():
        if not name.startswith("ENCLAVE_"):
            continue
        path = [part.lower() for part in name.removeprefix("ENCLAVE_").split("__")]
        value: Any = raw
        if raw[:1] in "[{":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}: not valid JSON ({exc.msg})") from None
        _merge(values, path, value)
    return Settings(**values)


__all__ = ["DEFAULT_PURPOSES", "Settings", "TierConfig", "load_settings"]
