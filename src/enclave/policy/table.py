"""The subtraction table: per tier, what the loaded policies block, flag and allow
(DESIGN.md principle 5: publish what was subtracted).

It is computed, not written by hand: for every tier, action, purpose of the tier and
risk category, the policies are evaluated for a probe key of that tier at every risk
score where a decision can change. Cedar's ``decimal`` supports only comparisons, and
the validator refuses ``decimal(...)`` on anything but a literal (checked in
tests/unit/policy), while ``risk_score`` is the only decimal Enclave provides. So a
decision can change only next to a ``decimal("...")`` literal of the policies, and
probing each literal ``t`` at ``t - 0.0001``, ``t`` and ``t + 0.0001`` (the decimal's
resolution), plus 0 and 1, finds every band exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from enclave.config import TierConfig
from enclave.policy.analysis import (
    STEP,
    ZERO,
    named_categories,
    permitted_actions,
    thresholds,
)
from enclave.policy.entities import NO_RISK, Facts, Subject
from enclave.policy.interface import (
    PolicyDecision,
    ScoreBand,
    SubtractionRow,
    SubtractionTable,
)
from enclave.policy.loader import LoadedPolicies

# The safeguards taxonomy of issue 6 (item 1); Settings will carry it with descriptions.
# Categories the policies name are added to whatever list is used.
DEFAULT_CATEGORIES = (
    "malware",
    "ransomware",
    "credential-theft",
    "phishing",
    "exploit-third-party",
    "evasion",
    "ddos-botnet",
    "intrusion",
    "data-theft",
)
_ONE = Decimal("1.0000")


def _probe_points(limits: Sequence[Decimal]) -> list[Decimal]:
    points = {ZERO, _ONE}
    for t in limits:
        points.update(p for p in (t - STEP, t, t + STEP) if ZERO <= p <= _ONE)
    return sorted(points)


def _bands(
    evaluate: Callable[[Facts], PolicyDecision],
    subject: Subject,
    model: str,
    action: str,
    purpose: str,
    category: str,
    points: Sequence[Decimal],
) -> tuple[ScoreBand, ...]:
    runs: list[tuple[Decimal, PolicyDecision, set[str]]] = []
    for point in points:
        facts = Facts(subject, action, model, model, purpose, "probe", category, f"{point:f}")
        decision = evaluate(facts)
        last = runs[-1][1] if runs else None
        if last and (last.allowed, last.advice) == (decision.allowed, decision.advice):
            runs[-1][2].update(decision.policies)
        else:
            runs.append((point, decision, set(decision.policies)))
    bands = []
    for i, (low, decision, policies) in enumerate(runs):
        high = runs[i + 1][0] - STEP if i + 1 < len(runs) else _ONE
        bands.append(
            ScoreBand(
                f"{low:f}", f"{high:f}", decision.allowed, decision.advice, tuple(sorted(policies))
            )
        )
    return tuple(bands)


def compute_table(
    evaluate: Callable[[Facts], PolicyDecision],
    loaded: LoadedPolicies,
    tiers: Mapping[str, TierConfig],
    *,
    categories: Sequence[str] | None = None,
    actions: Sequence[str] | None = None,
) -> SubtractionTable:
    limits = thresholds(loaded.ests)
    points = _probe_points(limits)
    listed = DEFAULT_CATEGORIES if categories is None else categories
    base = list(dict.fromkeys([NO_RISK, *listed]))
    acting = permitted_actions(loaded.ests) if actions is None else list(actions)
    # Per action, the listed categories plus those its own policies name: the monitor's
    # categories (tool_call policies) are not categories of a model call (invoke).
    per_action = {
        action: base + [c for c in named_categories(loaded.ests, action=action) if c not in base]
        for action in acting
    }
    cats = list(dict.fromkeys([*base, *(c for a in acting for c in per_action[a])]))
    rows: list[SubtractionRow] = []
    for tier_name, tier in tiers.items():
        models = [m for m in tier.models if m != "*"]
        model = models[0] if models else "any-model"
        subject = Subject(
            key_id=f"probe-{tier_name}",
            key_purposes=tier.purposes,
            key_scope=(),
            org_id=f"probe-{tier_name}",
            org_kind=tier_name,
            org_sector="",
            tier=tier_name,
        )
        for action in acting:
            # Purposes of the tier whose outcome is the same share one row per category.
            groups: dict[tuple[tuple[ScoreBand, ...], ...], list[str]] = {}
            for purpose in tier.purposes:
                outcome = tuple(
                    _bands(evaluate, subject, model, action, purpose, cat, points)
                    for cat in per_action[action]
                )
                groups.setdefault(outcome, []).append(purpose)
            for outcome, purposes in groups.items():
                for cat, bands in zip(per_action[action], outcome, strict=True):
                    rows.append(SubtractionRow(tier_name, action, tuple(purposes), cat, bands))
    return SubtractionTable(
        digest=loaded.info.digest,
        categories=tuple(cats),
        thresholds=tuple(f"{t:f}" for t in limits),
        rows=tuple(rows),
    )


__all__ = ["DEFAULT_CATEGORIES", "compute_table"]
