"""What a loaded policy set can read, from Cedar's JSON form of its policies.

Two uses: the decision cache keys on only what the policies read (service.py), and the
subtraction table probes exactly where a decision can change (table.py).

The risk score argument: Cedar's ``decimal`` has only comparisons (``lessThan`` and
friends, ``==``); it converts to nothing else. The validator refuses ``decimal(...)``
on anything but a string literal (tests/unit/policy/test_analysis.py checks both), and
``context.risk_score`` is the only decimal Enclave provides. So a decision depends on the
score only through its order relative to the ``decimal("...")`` literals of the policies
(the *cuts*): two scores with the same order against every cut get the same decision.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from enclave.policy.entities import ACTIONS

STEP = Decimal("0.0001")  # Cedar decimal resolution: 4 fractional digits
ZERO = Decimal("0.0000")
_CONTEXT = {"Var": "context"}
_RISK_CATEGORY = {".": {"left": _CONTEXT, "attr": "risk_category"}}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _context_access(node: Any) -> str | None:
    """The attribute name if ``node`` is ``context.attr``, ``context["attr"]`` or
    ``context has attr``."""
    if isinstance(node, dict) and len(node) == 1:
        (op, body), *_ = node.items()
        if (
            op in (".", "has")
            and isinstance(body, dict)
            and body.get("left") == _CONTEXT
            and isinstance(body.get("attr"), str)
        ):
            return str(body["attr"])
    return None


@dataclass(frozen=True, slots=True)
class ContextUse:
    reads: frozenset[str]  # context attributes some policy reads
    whole: bool  # some policy uses `context` as a value (e.g. `context == {...}`)
    cuts: tuple[Decimal, ...]  # every decimal literal, sorted

    def reads_attr(self, name: str) -> bool:
        return self.whole or name in self.reads

    def score_representative(self, score: str) -> str:
        """A score in the same position against every cut (the lowest such on the
        4-digit grid), so that equal representatives mean equal decisions."""
        if self.whole:
            return score
        value = Decimal(score)
        i = bisect.bisect_left(self.cuts, value)
        if i < len(self.cuts) and self.cuts[i] == value:
            return score
        # cuts[i-1] < value < cuts[i]: the grid point just above cuts[i-1] is <= value.
        low = self.cuts[i - 1] + STEP if i > 0 else ZERO
        return f"{low:f}"


def context_use(ests: Mapping[str, Any]) -> ContextUse:
    reads: set[str] = set()
    whole = False
    stack: list[Any] = list(ests.values())
    while stack:
        node = stack.pop()
        attr = _context_access(node)
        if attr is not None:
            reads.add(attr)
            continue
        if node == _CONTEXT:
            whole = True
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return ContextUse(frozenset(reads), whole, tuple(thresholds(ests)))


def thresholds(ests: Mapping[str, Any]) -> list[Decimal]:
    found: set[Decimal] = set()
    for node in _walk(list(ests.values())):
        if isinstance(node, dict) and "decimal" in node:
            args = node["decimal"]
            if args and isinstance(args[0], dict) and isinstance(args[0].get("Value"), str):
                found.add(Decimal(args[0]["Value"]).quantize(STEP))
    return sorted(found)


def named_categories(ests: Mapping[str, Any], *, action: str | None = None) -> list[str]:
    """String literals the policies compare context.risk_category with (only in the
    policies that can apply to ``action``, when given)."""
    found: dict[str, None] = {}
    chosen = [e for e in ests.values() if action is None or action in _scope_actions(e)]
    for node in _walk(chosen):
        if not isinstance(node, dict):
            continue
        for op in ("==", "!="):
            pair = node.get(op)
            if isinstance(pair, dict) and _RISK_CATEGORY in (pair.get("left"), pair.get("right")):
                for side in (pair.get("left"), pair.get("right")):
                    if isinstance(side, dict) and isinstance(side.get("Value"), str):
                        found[side["Value"]] = None
        contains = node.get("contains")
        if isinstance(contains, dict) and contains.get("right") == _RISK_CATEGORY:
            left = contains.get("left")
            for item in left.get("Set", []) if isinstance(left, dict) else []:
                if isinstance(item, dict) and isinstance(item.get("Value"), str):
                    found[item["Value"]] = None
    return list(found)


def _scope_actions(est: Mapping[str, Any]) -> set[str]:
    """The actions a policy's scope lets it apply to."""
    scope = est.get("action", {})
    if scope.get("op") == "All":
        return set(ACTIONS)
    if scope.get("op") == "==":
        return {scope["entity"]["id"]}
    if scope.get("op") == "in":
        entities = scope.get("entities") or [scope.get("entity", {})]
        return {e.get("id", "") for e in entities}
    return set()


def permitted_actions(ests: Mapping[str, Any]) -> list[str]:
    """Actions at least one permit can grant."""
    found: set[str] = set()
    for est in ests.values():
        if est.get("effect") == "permit":
            found |= _scope_actions(est)
    return [a for a in ACTIONS if a in found]


__all__ = [
    "STEP",
    "ZERO",
    "ContextUse",
    "context_use",
    "named_categories",
    "permitted_actions",
    "thresholds",
]
