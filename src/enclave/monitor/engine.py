"""The rule engine: one normalised event in, rule matches out, session state folded.

Split in two so that shared (Redis) state is held for as short a time as possible:
:meth:`RuleEngine.match` is stateless (scope check and every base rule), and
:meth:`RuleEngine.fold` is the O(1) state update (counters, correlations, suppression)
that runs inside the state store's atomic section.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
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
        return tuple(r.id for r in self.rules)


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
        fields = dict(event.fields)
        if hosts:
            outside = out_of_scope(
                scope,
                hosts=hosts,
                urls=event.values("urls"),
                methods=event.values("methods"),
                executables=event.values("executable"),
            )
            if outside:
                fields["out_of_scope"] = tuple(outside)
        if recipients:
            external = tuple(r for r in recipients if not scope.covers_recipient(r))
            if external:
                fields["external_recipients"] = external
        return ToolEvent(event.tool_call_id, event.tool, event.kind, fields)

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
                RuleMatch(
                    rule_id=rule.id,
                    title=rule.title,
                    category=rule.category,
                    severity=rule.severity,
                    tool_call_id=event.tool_call_id,
                )
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
            state.categories[match.category.value] = (
                state.categories.get(match.category.value, 0) + 1
            )
        return out

    def evaluate(
        self, event: ToolEvent, scope: Scope | None, state: SessionState, *, now: float
    ) -> list[RuleMatch]:
        """Both halves at once (replay, evaluation, tests)."""
        return self.fold(state, self.match(event, scope), now=now)


class _Index:
    """Which rules an event's literals and fields make worth evaluating.

    Built once per rule set: literal id -> rules, field -> rules, and the rules without a
    trigger (always evaluated). Per event the work is proportional to the literals found,
    not to the number of rules.
    """

    def __init__(self, rules: RuleSet, pool: Sequence[CompiledRule]) -> None:
        self._rules = tuple(pool)
        by_literal: dict[int, list[int]] = {}
        by_field: dict[str, list[int]] = {}
        always: list[int] = []
        for position, rule in enumerate(self._rules):
            gate = rules.triggers[rule.id]
            if gate is None:
                always.append(position)
                continue
            for literal in gate[0]:
                by_literal.setdefault(literal, []).append(position)
            for name in gate[1]:
                by_field.setdefault(name, []).append(position)
        self._by_literal = {k: tuple(v) for k, v in by_literal.items()}
        self._by_field = {k: tuple(v) for k, v in by_field.items()}
        self._always = frozenset(always)

    def candidates(self, found: frozenset[int], present: Container[str]) -> list[CompiledRule]:
        chosen = set(self._always)
        for literal in found:
            chosen.update(self._by_literal.get(literal, ()))
        for name, positions in self._by_field.items():  # a few derived fields
            if name in present:
                chosen.update(positions)
        return [self._rules[i] for i in sorted(chosen)]


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
