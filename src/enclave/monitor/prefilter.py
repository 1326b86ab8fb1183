"""A literal pre-filter: which rules could possibly match an event, in one pass.

Evaluating every rule's predicate costs a few microseconds each (measured: ~170 us for
the shipped pack on a benign `ls`), over the 50 us budget. Most rules cannot match most
events, and that can be known from literals: a rule whose condition needs "docker.sock"
somewhere cannot match an event whose text lacks it. At load each rule gets a *trigger*:
literals (and fields) of which at least one must be present for the condition to hold. All
literals of all rules go into one RE2 set (a DFA: one linear scan of the event's text finds
every literal present, overlapping or not). Only rules with a trigger present, or without
a trigger at all (a condition we cannot bound, e.g. a lone CIDR), are evaluated.

The trigger is a necessary condition, never a sufficient one: lower-casing and ignoring
field boundaries only make it weaker, so the pre-filter can never hide a match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import re2
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaExists,
    SigmaExpansion,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)


@dataclass(frozen=True, slots=True)
class Trigger:
    literals: frozenset[str]  # lower case
    fields: frozenset[str]  # any of these non-empty also satisfies the trigger


def _string_literal(value: SigmaString) -> str | None:
    runs = [""]
    for part in value.s:
        if isinstance(part, str):
            runs[-1] += part
        elif part in (SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE):
            runs.append("")
        else:
            return None
    best = max(runs, key=len).lower()
    return best or None


_META = set("\\.^$*+?{}[]()|")


def split_alternatives(pattern: str) -> list[str]:
    """The top-level `|` branches of a regular expression."""
    return _split_top(pattern)


def _split_top(pattern: str, sep: str = "|") -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            end = pattern.find("]", i + 2)
            i = len(pattern) if end < 0 else end + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def regex_literals(pattern: str) -> frozenset[str] | None:
    """Literals one of which any match must contain, or None if none can be named."""
    if pattern.startswith("(?"):  # inline flags: (?i), (?im)...
        end = pattern.find(")")
        if end > 0 and ":" not in pattern[2:end]:
            pattern = pattern[end + 1 :]
    branches = _split_top(pattern)
    found: set[str] = set()
    for branch in branches:
        best = _branch_literals(branch)
        if best is None:
            return None
        found |= best
    return frozenset(found)


def _branch_literals(branch: str) -> frozenset[str] | None:
    """The best requirement of one alternative: a literal run, or a required group."""
    candidates: list[frozenset[str]] = []
    run = ""
    i, n = 0, len(branch)

    def close() -> None:
        nonlocal run
        if len(run) >= 2:
            candidates.append(frozenset({run.lower()}))
        run = ""

    while i < n:
        c = branch[i]
        nxt = branch[i + 1] if i + 1 < n else ""
        optional = nxt in ("?", "*") or (nxt == "{" and branch[i + 2 : i + 3] == "0")
        if c == "\\":
            esc = branch[i + 1 : i + 2]
            if esc and not esc.isalnum():  # \. \/ \- : a literal character
                following = branch[i + 2 : i + 3]
                if following in ("?", "*") or following == "{":
                    close()
                else:
                    run += esc
                i += 2
                continue
            close()
            i += 2
            continue
        if c == "(":
            depth, j = 0, i
            while j < n:
                if branch[j] == "\\":
                    j += 2
                    continue
                if branch[j] == "(":
                    depth += 1
                elif branch[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner = branch[i + 1 : j]
            after = branch[j + 1 : j + 2]
            close()
            if inner.startswith("?:"):
                inner = inner[2:]
            if after not in ("?", "*") and not inner.startswith("?"):
                sub = regex_literals(inner)
                if sub and all(len(s) >= 2 for s in sub):
                    candidates.append(sub)
            i = j + 1
            continue
        if c == "[":
            end = branch.find("]", i + 2)
            close()
            i = n if end < 0 else end + 1
            continue
        if c == "{":  # a counted repeat: the run cannot continue past it
            close()
            end = branch.find("}", i)
            i = n if end < 0 else end + 1
            continue
        if c in _META:
            close()
            i += 1
            continue
        if optional:
            close()
            i += 1
            continue
        run += c
        i += 1
    close()
    if not candidates:
        return None
    # The most selective requirement: the one whose shortest literal is longest.
    return max(candidates, key=lambda s: (min(len(x) for x in s), -len(s)))


def trigger(node: Any) -> Trigger | None:
    """The trigger of a post-processed pySigma condition (None: cannot be bounded)."""
    if isinstance(node, ConditionOR):
        parts = [trigger(a) for a in node.args]
        if any(p is None for p in parts):
            return None
        return _union([p for p in parts if p is not None])
    if isinstance(node, ConditionAND):
        bounded = [p for p in (trigger(a) for a in node.args) if p is not None]
        if not bounded:
            return None
        return max(bounded, key=_selectivity)
    if isinstance(node, ConditionNOT):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression | ConditionValueExpression):
        field = getattr(node, "field", None)
        return _value_trigger(node.value, field)
    return None


def _value_trigger(value: Any, field: str | None) -> Trigger | None:
    if isinstance(value, SigmaExpansion):
        parts = [_value_trigger(v, field) for v in value.values]
        if any(p is None for p in parts):
            return None
        return _union([p for p in parts if p is not None])
    if isinstance(value, SigmaString):
        literal = _string_literal(value)
        return Trigger(frozenset({literal}), frozenset()) if literal else None
    if isinstance(value, SigmaRegularExpression):
        literals = regex_literals(value.regexp.to_plain())
        return Trigger(literals, frozenset()) if literals else None
    if isinstance(value, SigmaExists) and value.exists and field:
        return Trigger(frozenset(), frozenset({field}))
    return None


def _union(parts: Sequence[Trigger]) -> Trigger:
    return Trigger(
        frozenset().union(*(p.literals for p in parts)),
        frozenset().union(*(p.fields for p in parts)),
    )


def _selectivity(t: Trigger) -> tuple[int, int]:
    if t.fields and not t.literals:
        return (2, 0)  # a derived field (out_of_scope) is rarely present: very selective
    shortest = min((len(x) for x in t.literals), default=0)
    return (1 if shortest >= 3 else 0, shortest * 100 - len(t.literals))


class LiteralIndex:
    """All trigger literals of a rule set, matched in one RE2 pass."""

    def __init__(self, literals: Iterable[str]) -> None:
        self.ids: dict[str, int] = {}
        self._set: Any = None
        unique = sorted(set(literals))
        if unique:
            self._set = re2.Set.SearchSet()
            for literal in unique:
                self.ids[literal] = self._set.Add(re2.escape(literal))
            self._set.Compile()

    def found(self, text: str) -> Sequence[int]:
        """The ids of the literals in `text` (each once)."""
        if self._set is None:
            return ()
        # The wrapper's Set.Match only encodes the text as UTF-8 around the compiled set
        # (`_set`, google-re2 pinned in pyproject.toml); calling it directly halves the
        # cost of the pre-filter on a short command.
        return self._set._set.Match(text.encode("utf-8")) or ()


__all__ = ["LiteralIndex", "Trigger", "regex_literals", "trigger"]
