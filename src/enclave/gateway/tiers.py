"""``GET /v1/enclave/tiers``: per tier, which risk categories are blocked, flagged or
allowed (issue 6 item 8; DESIGN.md principle 5, publish what was subtracted).

The document is generated from the policies in force by evaluating them
(``PolicyEngine.subtraction_table``, enclave/policy/table.py), never written by hand, so
a policy edit followed by a reload changes it. It is public: no key is needed to learn
what each tier may not do. It is computed once per policy set (keyed by the set's
digest; ~50 ms for the shipped policies, measured with the default taxonomy) and served
from memory afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import orjson

from enclave.policy import PolicyEngine
from enclave.policy.interface import Advice, ScoreBand, SubtractionRow, SubtractionTable

NO_RISK = "none"
_ACTION = "invoke"  # what a model call is; the monitor's tool_call rows are not published


def _worst(bands: Sequence[ScoreBand]) -> str:
    """``blocked`` if some score is refused, ``flagged`` if some score is served with a
    flag or held, else ``allowed``."""
    if any(not b.allowed or b.advice in (Advice.BLOCK, Advice.TERMINATE) for b in bands):
        return "blocked"
    if any(b.advice in (Advice.FLAG, Advice.HOLD) for b in bands):
        return "flagged"
    return "allowed"


_RANK = {"allowed": 0, "flagged": 1, "blocked": 2}


def _rule(row: SubtractionRow) -> dict[str, Any]:
    return {
        "category": row.category,
        "purposes": list(row.purposes),
        "summary": row.summary,
        "bands": [
            {
                "min_score": b.low,
                "max_score": b.high,
                "advice": b.advice.value if b.allowed else Advice.BLOCK.value,
                "served": b.allowed and b.advice in (Advice.ALLOW, Advice.FLAG),
                "policies": list(b.policies),
            }
            for b in row.bands
        ],
    }


def tiers_document(table: SubtractionTable) -> dict[str, Any]:
    tiers: dict[str, dict[str, Any]] = {}
    status: dict[str, dict[str, str]] = {}
    for row in table.rows:
        if row.action != _ACTION:
            continue
        entry = tiers.setdefault(row.tier, {"rules": []})
        entry["rules"].append(_rule(row))
        if row.category == NO_RISK:
            continue
        # A category's status on a tier is the strictest over the tier's purposes; the
        # rules give each purpose group's bands.
        seen = status.setdefault(row.tier, {})
        found = _worst(row.bands)
        seen[row.category] = max(found, seen.get(row.category, "allowed"), key=_RANK.__getitem__)
    for tier, entry in tiers.items():
        seen = status.get(tier, {})
        for kind in ("blocked", "flagged", "allowed"):
            entry[kind] = [c for c in table.categories if seen.get(c) == kind]
        entry["rules"] = entry.pop("rules")  # after the three lists, for readers
    # The categories of model calls (the table also lists the monitor's, for tool_call).
    published = {row.category for row in table.rows if row.action == _ACTION}
    return {
        "object": "enclave.tiers",
        "policy_digest": table.digest,
        "categories": [c for c in table.categories if c != NO_RISK and c in published],
        "thresholds": list(table.thresholds),
        "tiers": tiers,
    }


class TiersPage:
    """The rendered document, recomputed when the policy set's digest changes."""

    def __init__(self, engine: PolicyEngine, categories: Sequence[str] | None) -> None:
        self._engine = engine
        self._categories = list(categories) if categories is not None else None
        self._lock = threading.Lock()
        self._digest: str | None = None
        self._body = b""

    def body(self) -> bytes:
        digest = self._engine.info.digest
        with self._lock:
            if digest != self._digest:
                table = self._engine.subtraction_table(
                    categories=self._categories, actions=[_ACTION]
                )
                self._body = orjson.dumps(tiers_document(table))
                self._digest = table.digest
            return self._body


__all__ = ["TiersPage", "tiers_document"]
