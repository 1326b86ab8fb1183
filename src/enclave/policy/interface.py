"""Policy domain: what the gateway asks (:class:`PolicyRequest`) and what it is told
(:class:`PolicyDecision`).

Access decisions are Cedar policies (https://docs.cedarpolicy.com) in files operators
edit; :class:`enclave.policy.PolicyEngine` evaluates them. This module holds only values
and the package's error class; nothing here imports a web framework or a DB driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from enclave.errors import ConfigError
from enclave.registry import Principal


class Advice(StrEnum):
    """What a decision asks the gateway to do (DESIGN.md vocabulary)."""

    ALLOW = "allow"
    FLAG = "flag"  # serve, and raise the session's monitoring (vetted tiers)
    HOLD = "hold"  # hold for an operator's review
    BLOCK = "block"  # refuse this request
    TERMINATE = "terminate"  # refuse and end the session

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


# When several policies determine a decision, the most severe advice wins.
_SEVERITY: dict[Advice, int] = {
    Advice.ALLOW: 0,
    Advice.FLAG: 1,
    Advice.HOLD: 2,
    Advice.BLOCK: 3,
    Advice.TERMINATE: 4,
}

# Which advice a policy of each effect may carry. A permit that advised "block" would
# contradict itself (Cedar would allow, the annotation would refuse), so the loader
# rejects it; "hold" is meaningful for both: serve-after-review or refuse-pending-review.
PERMIT_ADVICE = frozenset({Advice.ALLOW, Advice.FLAG, Advice.HOLD})
FORBID_ADVICE = frozenset({Advice.HOLD, Advice.BLOCK, Advice.TERMINATE})


def most_severe(advices: Iterable[Advice], default: Advice) -> Advice:
    return max(advices, key=_SEVERITY.__getitem__, default=default)


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    principal: Principal  # key + organisation; tier = org.tier
    action: str  # "invoke"; "tool_call" is declared for the monitor
    model: str  # the public model name the client asked for
    variant: str  # the model variant the tier routes to (the gateway decides)
    purpose: str  # declared purpose (X-Enclave-Purpose, or the key's only one)
    session_id: str
    # Further facts the policies may read, by the names in the Cedar schema's
    # RequestContext: risk_category (str, "none" when absent) and risk_score (a number in
    # [0, 1], 0 when absent) from the safeguards. Undeclared names are refused.
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    allowed: bool
    advice: Advice  # from @advice("...") annotations; a deny without one -> BLOCK
    policies: tuple[str, ...]  # ids of the determining policies
    errors: tuple[str, ...] = ()

    @property
    def default_deny(self) -> bool:
        """Denied because no policy permits the request (Cedar's default deny)."""
        return not self.allowed and not self.policies and not self.errors

    @property
    def reason(self) -> str:
        if self.errors:
            return "denied (fail closed): " + "; ".join(self.errors)
        if self.default_deny:
            return "denied: no policy permits this request (default deny)"
        verb = "allowed by" if self.allowed else "denied by"
        return f"{verb} {', '.join(self.policies)}"


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One loaded policy: where it is written and what it advises."""

    id: str
    effect: str  # "permit" | "forbid"
    advice: Advice
    file: str
    line: int

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class PolicySetInfo:
    """The policy set in force: enough to record a `policy.reloaded` event."""

    directory: str
    digest: str  # "sha256:<hex>" over every file name and content, in name order
    files: tuple[str, ...]
    policies: tuple[str, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """A decision with what it was about and the policies that determined it."""

    decision: PolicyDecision
    determining: tuple[PolicyInfo, ...]
    policy_set: PolicySetInfo
    key_id: str
    org_id: str
    tier: str
    action: str
    model: str
    variant: str
    purpose: str
    session_id: str
    context: Mapping[str, Any]

    def text(self) -> str:
        d = self.decision
        verdict = "ALLOW" if d.allowed else "DENY"
        lines = [
            f"decision  {verdict} (advice: {d.advice.value})",
            f"why       {d.reason}",
        ]
        lines += [
            f"  {p.effect:<6} {p.id}  @advice({p.advice.value})  {p.location}"
            for p in self.determining
        ]
        context = ", ".join(f"{k}={v}" for k, v in sorted(self.context.items()))
        lines += [
            f"request   key {self.key_id} (org {self.org_id}, tier {self.tier}) "
            f"{self.action} model {self.model} -> variant {self.variant}",
            f"          purpose {self.purpose}, session {self.session_id}"
            + (f", {context}" if context else ""),
            f"policies  {len(self.policy_set.policies)} from {self.policy_set.directory} "
            f"({self.policy_set.digest})",
        ]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ScoreBand:
    """The outcome for risk scores in [low, high] (Cedar decimals, 4 places)."""

    low: str
    high: str
    allowed: bool
    advice: Advice
    policies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubtractionRow:
    tier: str
    action: str
    purposes: tuple[str, ...]  # purposes of the tier that share this outcome
    category: str
    bands: tuple[ScoreBand, ...]

    @property
    def summary(self) -> str:
        """E.g. ``allow; flag >= 0.5000; block >= 0.8000``."""
        parts = [
            band.advice.value if i == 0 else f"{band.advice.value} >= {band.low}"
            for i, band in enumerate(self.bands)
        ]
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class SubtractionTable:
    """Per tier, which risk categories and actions are blocked, flagged or allowed,
    computed by evaluating the loaded policies (DESIGN.md principle 5)."""

    digest: str  # of the policy set it was computed from
    categories: tuple[str, ...]
    thresholds: tuple[str, ...]  # risk_score literals found in the policies
    rows: tuple[SubtractionRow, ...]

    def band(
        self,
        tier: str,
        category: str,
        score: str,
        *,
        action: str = "invoke",
        purpose: str | None = None,
    ) -> ScoreBand:
        """The outcome for one tier, category and score (a 4-place decimal string, as
        ``decimal_text`` makes it); LookupError if the table has no such row."""
        for row in self.rows:
            if (row.tier, row.category, row.action) != (tier, category, action):
                continue
            if purpose is not None and purpose not in row.purposes:
                continue
            for band in row.bands:
                if band.low <= score <= band.high:
                    return band
        raise LookupError(f"no row for tier {tier!r}, category {category!r}, action {action!r}")


class PolicyError(ConfigError):
    """Invalid policy files, or a policy directory that cannot be read.

    ``file`` and ``line`` locate the problem when it is in one policy; on reload the
    policies loaded before stay in force.
    """

    code = "policy_invalid"

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = file if line is None or file is None else f"{file}:{line}"
        super().__init__(f"{where}: {problem}" if where else problem, hint=hint)
        self.problem = problem
        self.file = file
        self.line = line


__all__ = [
    "FORBID_ADVICE",
    "PERMIT_ADVICE",
    "Advice",
    "Explanation",
    "PolicyDecision",
    "PolicyError",
    "PolicyInfo",
    "PolicyRequest",
    "PolicySetInfo",
    "ScoreBand",
    "SubtractionRow",
    "SubtractionTable",
    "most_severe",
]
