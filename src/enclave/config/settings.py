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
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from enclave.config.assets import AssetsConfig
from enclave.config.disclosure import DisclosureConfig
from enclave.config.gateway import GatewayConfig, ModelConfig, ProviderConfig, check_routes
from enclave.config.monitor import MonitorConfig
from enclave.errors import ConfigError
from enclave.safeguards.config import SafeguardsConfig

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


def _whole_number(value: Any) -> Any:
    # Money and token counts: a float or a bool is refused rather than converted, so that
    # `input = 0.3` in enclave.toml is an error, not a silently different price. Digit
    # strings pass (nested ENCLAVE_* variables arrive as text).
    if isinstance(value, bool | float):
        raise ValueError("expected a whole number (integer micro-credits or tokens)")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class ModelPrice(BaseModel):
    """The price of one model variant per token kind, in integer micro-credits per million
    tokens (1 credit = 1,000,000 micro-credits). Per million because providers publish
    prices that way, so e.g. 0.30 per million cache reads stays an exact integer (300_000);
    integers because this is money (a float is refused, never rounded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: WholeNumber = Field(ge=0)
    output: WholeNumber = Field(ge=0)
    # Cached prompt tokens; unset means the input price.
    cache_read: WholeNumber | None = Field(default=None, ge=0)
    cache_write: WholeNumber | None = Field(default=None, ge=0)
    # Output clamp for requests without max_tokens, and the input clamp: the upstream
    # refuses (and does not bill) a prompt longer than its context window.
    max_output_tokens: WholeNumber = Field(ge=1)
    context_window: WholeNumber | None = Field(default=None, ge=1)


class RateLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: WholeNumber | None = Field(default=None, ge=1)
    tokens_per_minute: WholeNumber | None = Field(default=None, ge=1)


class CreditsConfig(BaseModel):
    """Ledger and rate-limit knobs (see docs/credits.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # How long a reservation may stay pending before the sweeper reconciles or expires it.
    pending_timeout_seconds: int = Field(default=900, ge=1, le=7 * 86400)
    # Input-token bound = ceil(request bytes / this). 1 is a true upper bound for byte-level
    # BPE tokenizers (every token covers at least one byte); larger values reserve less.
    input_bytes_per_token: int = Field(default=1, ge=1, le=8)
    # Tokens reserved per image part, whatever its size (see enclave.ledger.pricing).
    image_tokens: int = Field(default=4096, ge=0)
    # Organisation-wide limits by tier; per-key limits live on each key.
    org_limits: dict[str, RateLimitConfig] = Field(default_factory=dict)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # sqlite:///PATH (one file, WAL mode) or postgresql://USER@HOST:PORT/DB; the URL alone
    # picks the backend.
    database_url: str = "sqlite:///./enclave.db"
    # Address `enclave serve` binds to.
    host: str = "127.0.0.1"
    # Port `enclave serve` listens on.
    port: int = Field(default=8400, ge=1, le=65535)
    # Files that must never live in the database: the key pepper, signing keys, the
    # first operator token. Created by `enclave init` with mode 0600.
    state_dir: Path = Path(".enclave")
    # Server-side secret mixed into every API key hash. When unset it is read from
    # state_dir/key-pepper (created by `enclave init`).
    key_pepper: SecretStr | None = None
    # The audit log's origin line (C2SP tlog-checkpoint), also its signing key's name: fixed
    # once `enclave init` has made the key.
    log_origin: str = Field(default="enclave.localhost/log", pattern=r"^[^\s+]+$")
    # The audit log's Ed25519 signing key file; unset = state_dir/log-signing.key.
    log_signing_key: Path | None = None
    # How often `enclave serve` integrates new events into the audit log (0: never).
    log_integrate_seconds: float = Field(default=1.0, ge=0)
    # Largest request body accepted; larger ones are refused before they are parsed.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Deepest JSON nesting accepted in a request body.
    max_json_depth: int = Field(default=64, ge=4, le=1000)
    # How long a console sign-in lasts (minutes, absolute: the operator signs in again).
    console_session_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    # How long an organisation's approval lasts before it must be renewed.
    approval_validity_days: int = Field(default=365, ge=1)
    # The purposes a key can declare; every tier names a subset.
    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    # Per tier: description, purposes, models, approvals_required (four-eyes), max_key_days.
    tiers: dict[str, TierConfig] = Field(default_factory=_default_tiers)
    # Directory of Cedar policies (*.cedar) operators edit; unset = the shipped defaults
    # (enclave/policy/default). `enclave policy init DIR` copies those to start from.
    policy_dir: Path | None = None
    # Prices keyed by model variant; a variant without a price cannot be reserved for,
    # so it cannot be served (fail closed).
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    credits: CreditsConfig = Field(default_factory=CreditsConfig)
    # Shared rate limits across gateway processes; unset means in-process limits.
    redis_url: SecretStr | None = None
    # Upstream model providers by name: kind (openai | anthropic), base_url, api_key_env
    # (the variable holding the key), timeouts (docs/gateway.md). None configured: the
    # gateway serves only its built-in `demo` model.
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    # Public model names, each routing every tier that may use it to a provider and a
    # model variant; a tier without a route cannot use the model.
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    # Client-API knobs: store_bodies (keep prompts and completions by hash), event batch
    # size and interval, max_header_bytes.
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    # Safeguards: model and taxonomy overrides, conversation window, the interim advice
    # table, the optional LLM judge (docs/safeguards.md).
    safeguards: SafeguardsConfig = Field(default_factory=SafeguardsConfig)
    # The monitored perimeter: operator rule directory, hold timeout, action source
    # (docs/monitor.md).
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    # Asset ownership challenges: resolver allowlist, fetch limits, validity
    # (docs/asset-owners.md).
    assets: AssetsConfig = Field(default_factory=AssetsConfig)
    # Coordinated disclosure: deadline policy, data key, SMTP, links (docs/disclosure.md).
    disclosure: DisclosureConfig = Field(default_factory=DisclosureConfig)

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
        unknown_tiers = sorted(set(self.credits.org_limits) - set(self.tiers))
        if unknown_tiers:
            raise ValueError(f"credits.org_limits names unknown tier(s) {unknown_tiers}")
        check_routes(self.providers, self.models, set(self.tiers))

    @property
    def key_pepper_path(self) -> Path:
        return self.state_dir / "key-pepper"

    @property
    def operator_token_path(self) -> Path:
        return self.state_dir / "operator-token"

    @property
    def disclosure_key_path(self) -> Path:
        return self.state_dir / "disclosure.key"

    @property
    def log_key_path(self) -> Path:
        return self.log_signing_key or self.state_dir / "log-signing.key"

    def tier(self, name: str) -> TierConfig:
        try:
            return self.tiers[name]
        except KeyError:
            raise ConfigError(
                f"unknown tier {name!r}", hint=f"configured tiers: {', '.join(sorted(self.tiers))}"
            ) from None


# ENCLAVE_* variables that configure a command rather than the server: the CLI's acting
# operator (`--as`) and the flags of every command (ENCLAVE_CLI_<GROUP>_<FLAG>, see
# enclave.cli.main). The loader skips them, so that any other unknown ENCLAVE_* name (a
# typo of a real setting) still fails at start instead of being silently ignored.
COMMAND_VARIABLES = frozenset({"ENCLAVE_CONFIG", "ENCLAVE_OPERATOR"})
COMMAND_PREFIX = "ENCLAVE_CLI_"


def is_command_variable(name: str) -> bool:
    return name in COMMAND_VARIABLES or name.startswith(COMMAND_PREFIX)


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    key = ".".join(str(part) for part in loc)
    env = "ENCLAVE_" + "__".join(str(p).upper() for p in loc)
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden" and len(loc) == 1:
        message = "unknown setting; expected one of " + ", ".join(Settings.model_fields)
    if not loc:  # a cross-field check (model_post_init) names its own keys
        return message
    return f"{key} (env {env}): {message}"


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
        if not name.startswith("ENCLAVE_") or is_command_variable(name):
            continue
        path = [part.lower() for part in name.removeprefix("ENCLAVE_").split("__")]
        if len(path) > 1 and path[0] == "tiers" and "tiers" not in values:
            # A nested variable changes one field of the tier table in force; without
            # this, ENCLAVE_TIERS__PUBLIC__MAX_KEY_DAYS=30 would drop every other tier.
            values["tiers"] = {n: t.model_dump() for n, t in _default_tiers().items()}
        value: Any = raw
        if raw[:1] in "[{":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}: not valid JSON ({exc.msg})") from None
        _merge(values, path, value)
    return Settings(**values)


__all__ = [
    "DEFAULT_PURPOSES",
    "CreditsConfig",
    "ModelPrice",
    "RateLimitConfig",
    "Settings",
    "TierConfig",
    "load_settings",
]
