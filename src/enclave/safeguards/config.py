"""Safeguards settings: the ``[safeguards]`` table of ``enclave.toml``.

This module imports nothing from ``enclave.config`` (which imports it), so that Settings can
hold a :class:`SafeguardsConfig` without an import cycle. Every field can be set by an
``ENCLAVE_SAFEGUARDS__*`` variable, e.g. ``ENCLAVE_SAFEGUARDS__JUDGE__ENABLED=true``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

# The thresholds of the shipped Cedar policies (enclave/policy/default/risk.cedar): the
# public tier blocks a high-risk category at 0.8; every tier flags at 0.5. The table below
# mirrors them for use without the policy engine; `enclave safeguards eval` measures at the
# public tier's threshold of the policies actually loaded.
PUBLIC_BLOCK_AT = 0.8
FLAG_AT = 0.5


class TierThresholds(BaseModel):
    """The interim advice table for one tier, used until Cedar policies decide.

    ``block_at``: a high-risk category scoring at least this is blocked. ``flag_at``: any
    category other than ``none`` scoring at least this is flagged. None disables the rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_at: float | None = Field(default=None, ge=0.0, le=1.0)
    flag_at: float | None = Field(default=None, ge=0.0, le=1.0)


def _default_thresholds() -> dict[str, TierThresholds]:
    # DESIGN.md principle 2: the public tier blocks, vetted tiers are monitored. The same
    # score feeds both; only the table differs.
    return {
        "public": TierThresholds(block_at=PUBLIC_BLOCK_AT, flag_at=FLAG_AT),
        "maintainer": TierThresholds(flag_at=FLAG_AT),
        "partner": TierThresholds(flag_at=FLAG_AT),
        "operator": TierThresholds(flag_at=FLAG_AT),
    }


class JudgeConfig(BaseModel):
    """The optional LLM judge for verdicts in the uncertain band (issue 6 item 6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    # An OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1; the judge POSTs to
    # {base_url}/chat/completions.
    base_url: str = ""
    model: str = ""
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=2.0, gt=0.0, le=60.0)
    # Scores in [low, high) are escalated; outside it the classifier is confident enough.
    band_low: float = Field(default=0.5, ge=0.0, le=1.0)
    band_high: float = Field(default=0.9, ge=0.0, le=1.0)
    # Tiers on which an unavailable judge counts as "harmful" (principle 1: fail closed).
    # On the other tiers the classifier's verdict stands.
    fail_closed_tiers: tuple[str, ...] = ("public",)
    # The judge sees at most this many characters (the newest ones) of the conversation.
    max_chars: int = Field(default=8000, ge=100)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> JudgeConfig:
        if self.band_low > self.band_high:
            raise ValueError("judge.band_low must not exceed judge.band_high")
        if self.enabled and not (self.base_url and self.model):
            raise ValueError("judge.enabled needs judge.base_url and judge.model")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("judge.base_url must start with http:// or https://")
        return self


class SafeguardsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Override the artefact and taxonomy shipped in the package (enclave/safeguards/data/).
    model_path: Path | None = None
    taxonomy_path: Path | None = None
    # Conversation window: the last N user turns, at most this many characters (newest kept).
    window_turns: int = Field(default=4, ge=1, le=100)
    window_chars: int = Field(default=4000, ge=200)
    # Below this score the verdict's category is `none`: a category is named only when
    # there is something to name.
    category_floor: float = Field(default=0.2, ge=0.0, le=1.0)
    thresholds: dict[str, TierThresholds] = Field(default_factory=_default_thresholds)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)


__all__ = ["FLAG_AT", "PUBLIC_BLOCK_AT", "JudgeConfig", "SafeguardsConfig", "TierThresholds"]
