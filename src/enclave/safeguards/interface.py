"""Safeguards domain: verdicts, the judge Protocol and the package's errors.

A verdict is a risk category from the taxonomy (``none`` when nothing was found) and a
calibrated score in [0, 1]: the probability, on a class-balanced mix of the training sources,
that the text asks for cyber-misuse help. Policy turns a verdict into advice; the
safeguards never block on their own.

Nothing here imports a web framework or a database driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NewType, Protocol

from enclave.errors import ConfigError, EnclaveError, InputError

Category = NewType("Category", str)
NONE = Category("none")

# What produced the final score: the fast classifier alone, the LLM judge, or the judge's
# failure handled by the fail-closed rule of the tier.
VerdictSource = Literal["classifier", "judge", "judge-failed-closed", "judge-failed-open"]

# The advice the threshold table (or the Cedar policies) gives for a verdict. The CLI's
# output is restricted to these three; `hold` and `terminate` are session-level actions of
# the monitor, never of a single prompt's verdict.
Advice = Literal["allow", "flag", "block"]

ApiShape = Literal["openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class Verdict:
    category: Category
    score: float
    source: VerdictSource = "classifier"
    # The fast classifier's own score, kept when the judge overrides it (for the record).
    classifier_score: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0 or math.isnan(self.score):
            raise SafeguardsInputError(f"verdict score {self.score!r} is outside [0, 1]")

    def cedar_context(self) -> dict[str, str | float]:
        """The attributes this verdict adds to a Cedar request's context.

        Names and types are those of enclave/policy/default/schema.cedarschema:
        ``risk_category`` (String) and ``risk_score`` (Cedar ``decimal``; the policy engine
        renders the float with 4 places, so thresholds like ``decimal("0.8000")`` compare
        exactly).
        """
        return {"risk_category": str(self.category), "risk_score": self.score}


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """What the judge sees: the conversation text the classifier scored, and its verdict."""

    text: str
    category: Category
    score: float


@dataclass(frozen=True, slots=True)
class JudgeDecision:
    harmful: bool
    # A taxonomy category when the judge named one; None keeps the classifier's category.
    category: Category | None = None


class Judge(Protocol):
    """An escalation path for uncertain verdicts (issue 6 item 6).

    Implementations call some model (a guard model, any OpenAI-compatible upstream) and
    raise :class:`JudgeUnavailable` on any failure: timeout, transport error, an answer
    that cannot be parsed. The caller decides what a failure means (fail closed on the
    public tier).
    """

    async def judge(self, request: JudgeRequest) -> JudgeDecision: ...

    async def aclose(self) -> None: ...


class SafeguardsError(EnclaveError):
    code = "safeguards_error"


class SafeguardsInputError(SafeguardsError, InputError):
    code = "invalid_input"


class SafeguardsConfigError(SafeguardsError, ConfigError):
    """A bad taxonomy file, model artefact or threshold table: fails at start."""

    code = "config_invalid"


class JudgeUnavailable(SafeguardsError):
    """The judge did not answer usably; handled by the escalation rule, never shown."""

    code = "judge_unavailable"
    status = 503


__all__ = [
    "NONE",
    "Advice",
    "ApiShape",
    "Category",
    "Judge",
    "JudgeDecision",
    "JudgeRequest",
    "JudgeUnavailable",
    "SafeguardsConfigError",
    "SafeguardsError",
    "SafeguardsInputError",
    "Verdict",
    "VerdictSource",
]
