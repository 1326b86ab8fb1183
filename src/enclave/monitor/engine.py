"""The rule engine: one normalised event in, rule matches out, session state folded.

Split in two so that shared (Redis) state is held for as short a time as possible:
:meth:`RuleEngine.match` is stateless (scope check and every base rule), and
:meth:`RuleEngine.fold` is the O(1) state update (counters, correlations, suppression)
that runs inside the state store's atomic section.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from enclave.monitor.interface import Category, EventKind, RuleMatch, Severity, ToolEvent
from enclave.monitor.matcher import EventView
from enclave.monitor.rules import CompiledRule, RuleSet
from enclave.monitor.scope import Scope, out_of_scope
from enclave.monitor.state import MAX_ALERTS_PER_RULE, SessionState, advance


@dataclass(frozen=True, slots=True)
class Matched:
    """The stateless half of an evaluation."""

    event: ToolEvent
    rules: tuple[CompiledRule, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple([r.id for r in self.rules]) if self.rules else ()


class RuleEngine:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        # (rule, literal ids, fields) per rule, resolved once: the per-event loop below
        # then costs one set test per rule that cannot match.
        self._calls = _Index(rules, rules.for_calls)
        self._results = _Index(rules, rules.for_results)

    def with_scope(self, event: ToolEvent, scope: Scope | None) -> ToolEvent:
        """Add the derived fields `out_of_scope` and `external_recipients`.

        scope=None means "no scope known" (evaluation on foreign data): nothing is derived.
        """
        if scope is None or event.kind is EventKind.TOOL_RESULT:
            return event
        hosts = event.values("hosts")
        recipients = event.values("recipients")
        if not hosts and not recipients:
            return event
        derived: dict[str, tuple[str, ...]] = {}
        if hosts:
            outside = out_of_scope(
                scope,
                hosts=hosts,
                urls=event.values("urls"),
                methods=event.values("methods"),
                executables=event.values("executable"),
            )
            if outside:
                derived["out_of_scope"] = tuple(outside)
        if recipients:
            external = tuple(r for r in recipients if not scope.covers_recipient(r))
            if external:
                derived["external_recipients"] = external
        if not derived:
            return event  # everything in scope: nothing to add
        return ToolEvent(event.tool_call_id, event.tool, event.kind, {**event.fields, **derived})

    def match(self, event: ToolEvent, scope: Scope | None) -> Matched:
        event = self.with_scope(event, scope)
        view = EventView(event)
        present = event.fields.keys()
        index = self._results if event.kind is EventKind.TOOL_RESULT else self._calls
        found = self.rules.literals.found(_text(event))
        hits = tuple(
            rule
            for rule in index.candidates(found, present)
            if rule.required <= present and rule.predicate(view)
        )
        return Matched(event, hits)

    def fold(self, state: SessionState, matched: Matched, *, now: float) -> list[RuleMatch]:
        """Update the session state with one event; the alerts it raises."""
        event = matched.event
        state.events += 1
        out: list[RuleMatch] = []
        for rule in matched.rules:
            if not rule.alerts or rule.category is None:
                continue
            if state.hits.get(rule.id, 0) >= MAX_ALERTS_PER_RULE:
                continue  # counted in `hits` by advance(); the session has its alerts
            out.append(
                RuleMatch(rule.id, rule.title, rule.category, rule.severity, event.tool_call_id)
            )
        fired = advance(
            state,
            self.rules,
            matched.ids,
            now=now,
            tool_call_id=event.tool_call_id,
            group_values=event.values,
        )
        for item in fired:
            corr = item.correlation
            out.append(
                RuleMatch(
                    rule_id=corr.id,
                    title=corr.title,
                    category=corr.category,
                    severity=corr.severity,
                    tool_call_id=event.tool_call_id,
                    correlation=True,
                    related=item.related,
                )
            )
        for match in out:
            state.alerts += 1
            category = match.category.value
            state.categories[category] = state.categories.get(category, 0) + 1
        return out

    def evaluate(
        self, event: ToolEvent, scope: Scope | None, state: SessionState, *, now: float
    ) -> list[RuleMatch]:
        """Both halves at once (replay, evaluation, tests)."""
        return self.fold(state, self.match(event, scope), now=now)


class _Index:
    """Which rules an event's literals and fields make worth evaluating.

    Built once per rule set: literal id -> rules, field -> rules, and the rules without a
    trigger (always evaluated), each a bit mask over the pool's positions. Per event the
    work is one OR per literal found and one step per rule chosen, not per rule.
    """

    def __init__(self, rules: RuleSet, pool: Sequence[CompiledRule]) -> None:
        self._rules = tuple(pool)
        by_literal: dict[int, int] = {}
        by_field: dict[str, int] = {}
        always = 0
        for position, rule in enumerate(self._rules):
            bit = 1 << position
            gate = rules.triggers[rule.id]
            if gate is None:
                always |= bit
                continue
            for literal in gate[0]:
                by_literal[literal] = by_literal.get(literal, 0) | bit
            for name in gate[1]:
                by_field[name] = by_field.get(name, 0) | bit
        self._by_literal = by_literal
        self._by_field = tuple(by_field.items())
        self._always = always

    def candidates(self, found: Iterable[int], present: Container[str]) -> list[CompiledRule]:
        chosen = self._always
        by_literal = self._by_literal
        for literal in found:
            chosen |= by_literal.get(literal, 0)
        for name, bits in self._by_field:  # a few derived fields
            if name in present:
                chosen |= bits
        out: list[CompiledRule] = []
        while chosen:  # in pool order: lowest bit first
            lowest = chosen & -chosen
            out.append(self._rules[lowest.bit_length() - 1])
            chosen ^= lowest
        return out


def _text(event: ToolEvent) -> str:
    """Every value of the event, lower-cased, for the literal pre-filter."""
    parts: list[str] = []
    for value in event.fields.values():
        if isinstance(value, str):
            parts.append(value)
        else:
            parts.extend(value)
    return "\n".join(parts).lower()


def strongest(matches: Sequence[RuleMatch]) -> Severity | None:
    return max((m.severity for m in matches), key=lambda s: s.rank, default=None)


def categories(matches: Sequence[RuleMatch]) -> tuple[Category, ...]:
    return tuple(dict.fromkeys(m.category for m in matches))


__all__ = ["Matched", "RuleEngine", "categories", "strongest"]
