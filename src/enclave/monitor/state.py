"""Per-session monitor state, updated incrementally: O(1) work and bounded size per event.

The state never holds the trace. It holds counters, the last time each correlated rule
fired, a window of at most N timestamps for an `event_count` of N, at most N recent
distinct values for a `value_count` of N, and (for tool-check) the decision taken on each
of the last MAX_DECISIONS tool calls. Everything is plain JSON so that Redis can share it
between gateway processes (see enclave.store.monitor_redis).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson

from enclave.monitor.rules import CompiledCorrelation, RuleSet

T = TypeVar("T")

MAX_GROUPS = 64  # group-by keys kept per correlation per session
MAX_DECISIONS = 512  # recent tool-call decisions kept for tool-check
MAX_ALERTS_PER_RULE = 10  # alerts raised per rule per session; later hits are counted only


@dataclass(slots=True)
class SessionState:
    events: int = 0
    alerts: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)  # rule id -> matches
    # temporal: correlation key -> rule id -> [epoch seconds, tool call id]
    seen: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    # event_count: correlation key -> [[epoch, tool call id], ...] (at most `count`)
    counts: dict[str, list[list[Any]]] = field(default_factory=dict)
    # value_count: correlation key -> value -> [epoch, tool call id] (at most `count`)
    values: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    fired: dict[str, float] = field(default_factory=dict)  # correlation key -> epoch
    decisions: dict[str, str] = field(default_factory=dict)  # tool call id -> action

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "events": self.events,
                "alerts": self.alerts,
                "categories": self.categories,
                "hits": self.hits,
                "seen": self.seen,
                "counts": self.counts,
                "values": self.values,
                "fired": self.fired,
                "decisions": self.decisions,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str | None) -> SessionState:
        if not data:
            return cls()
        raw = orjson.loads(data)
        return cls(
            events=int(raw.get("events", 0)),
            alerts=int(raw.get("alerts", 0)),
            categories=dict(raw.get("categories", {})),
            hits=dict(raw.get("hits", {})),
            seen=dict(raw.get("seen", {})),
            counts=dict(raw.get("counts", {})),
            values=dict(raw.get("values", {})),
            fired=dict(raw.get("fired", {})),
            decisions=dict(raw.get("decisions", {})),
        )

    def copy(self) -> SessionState:
        return SessionState.from_json(self.to_json())

    def remember(self, tool_call_id: str, action: str) -> None:
        self.decisions.pop(tool_call_id, None)
        self.decisions[tool_call_id] = action
        while len(self.decisions) > MAX_DECISIONS:
            del self.decisions[next(iter(self.decisions))]


@dataclass(frozen=True, slots=True)
class Fired:
    correlation: CompiledCorrelation
    related: tuple[str, ...]  # tool call ids of the events that completed the sequence


def _group(corr: CompiledCorrelation, group_values: Callable[[str], tuple[str, ...]]) -> str:
    if not corr.group_by:
        return corr.id
    parts = [(group_values(name) or ("",))[0] for name in corr.group_by]
    return corr.id + "\x1f" + "\x1f".join(parts)


def _bounded(mapping: dict[str, Any], limit: int) -> None:
    while len(mapping) > limit:
        del mapping[next(iter(mapping))]


def _satisfied(op: str, have: int, want: int) -> bool:
    if op == "gt":
        return have > want
    if op == "eq":
        return have == want
    return have >= want


def advance(
    state: SessionState,
    rules: RuleSet,
    matched: tuple[str, ...],
    *,
    now: float,
    tool_call_id: str,
    group_values: Callable[[str], tuple[str, ...]],
) -> list[Fired]:
    """Fold one event's matched base rules into the state; return correlations that fire.

    A correlation that fired is quiet for its timespan in that session (one alert per
    window, not one per event once the threshold is passed).
    """
    fired: list[Fired] = []
    for rule_id in matched:
        state.hits[rule_id] = state.hits.get(rule_id, 0) + 1
        for corr in rules.by_rule.get(rule_id, ()):
            key = _group(corr, group_values)
            horizon = now - corr.seconds
            related: tuple[str, ...] | None = None
            if corr.type.startswith("temporal"):
                related = _temporal(state, corr, key, rule_id, now, horizon, tool_call_id)
            elif corr.type == "event_count":
                related = _event_count(state, corr, key, now, horizon, tool_call_id)
            elif corr.type == "value_count" and corr.field:
                related = _value_count(
                    state, corr, key, group_values(corr.field), now, horizon, tool_call_id
                )
            if related is None:
                continue
            last = state.fired.get(key)
            if last is not None and last > horizon:
                continue
            state.fired[key] = now
            _bounded(state.fired, MAX_GROUPS * 8)
            fired.append(Fired(corr, related))
    return fired


def _temporal(
    state: SessionState,
    corr: CompiledCorrelation,
    key: str,
    rule_id: str,
    now: float,
    horizon: float,
    tool_call_id: str,
) -> tuple[str, ...] | None:
    seen = state.seen.setdefault(key, {})
    seen[rule_id] = [now, tool_call_id]
    _bounded(state.seen, MAX_GROUPS)
    live = {r: v for r, v in seen.items() if v[0] >= horizon}
    if len(live) != len(seen):
        state.seen[key] = seen = live
    present = [r for r in corr.rules if r in live]
    if not _satisfied(corr.op, len(set(present)), corr.count):
        return None
    if corr.type == "temporal_ordered":
        times = [live[r][0] for r in corr.rules]
        if len(times) != len(corr.rules) or times != sorted(times):
            return None
    return tuple(str(live[r][1]) for r in present)


def _event_count(
    state: SessionState,
    corr: CompiledCorrelation,
    key: str,
    now: float,
    horizon: float,
    tool_call_id: str,
) -> tuple[str, ...] | None:
    window = state.counts.setdefault(key, [])
    window.append([now, tool_call_id])
    _bounded(state.counts, MAX_GROUPS)
    keep = corr.count + 1
    while window and (window[0][0] < horizon or len(window) > keep):
        window.pop(0)
    if not _satisfied(corr.op, len(window), corr.count):
        return None
    return tuple(str(item[1]) for item in window)


def _value_count(
    state: SessionState,
    corr: CompiledCorrelation,
    key: str,
    values: tuple[str, ...],
    now: float,
    horizon: float,
    tool_call_id: str,
) -> tuple[str, ...] | None:
    distinct = state.values.setdefault(key, {})
    _bounded(state.values, MAX_GROUPS)
    for value in values[:16]:
        distinct.pop(value, None)
        distinct[value] = [now, tool_call_id]
    for value in [v for v, item in distinct.items() if item[0] < horizon]:
        del distinct[value]
    _bounded(distinct, corr.count + 1)
    if not _satisfied(corr.op, len(distinct), corr.count):
        return None
    return tuple(dict.fromkeys(str(item[1]) for item in distinct.values()))


class SessionStates(Protocol):
    """Where session state lives: this process (memory) or shared (Redis)."""

    def apply(self, key: str, fn: Callable[[SessionState], T]) -> T:
        """Run `fn` on the session's state and keep what it leaves, atomically. `fn` may
        be run more than once (optimistic concurrency), so it must not have side effects
        beyond the state it is given."""
        ...

    def peek(self, key: str) -> SessionState:
        """A copy of the state, for decisions that must not change it (tool-check)."""
        ...

    def drop(self, key: str) -> None: ...


class MemoryStates:
    """Session state in this process, LRU-bounded in the number of sessions."""

    def __init__(self, *, max_sessions: int = 100_000) -> None:
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_sessions

    def apply(self, key: str, fn: Callable[[SessionState], T]) -> T:
        with self._lock:
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = SessionState()
                if len(self._states) > self._max:
                    self._states.popitem(last=False)
            else:
                self._states.move_to_end(key)
            return fn(state)

    def peek(self, key: str) -> SessionState:
        with self._lock:
            state = self._states.get(key)
            return state.copy() if state is not None else SessionState()

    def drop(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)

    def __len__(self) -> int:
        return len(self._states)


__all__ = [
    "MAX_ALERTS_PER_RULE",
    "Fired",
    "MemoryStates",
    "SessionState",
    "SessionStates",
    "advance",
]
