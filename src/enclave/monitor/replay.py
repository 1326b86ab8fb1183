"""Replay a recorded session through the same extraction, rules and state as the gateway.

Input (`enclave monitor replay FILE`)::

    {"api": "openai" | "anthropic", "scope": ["host:10.20.0.0/16", ...],
     "purpose": "penetration-testing", "system": "..." (anthropic, optional),
     "messages": [...API-native messages...]}

Messages are taken in order: an assistant message's tool calls become events, then the
tool results that answer them. Recorded sessions carry no clock, so event i is stamped
i seconds after the start: correlation windows (minutes to hours) hold across a replay.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from enclave.monitor.engine import RuleEngine
from enclave.monitor.extract import message_calls, message_results
from enclave.monitor.interface import Api, MonitorInputError, RuleMatch, ToolEvent
from enclave.monitor.normalise import call_event, result_event
from enclave.monitor.scope import Scope
from enclave.monitor.state import SessionState

MAX_SESSION_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReplaySession:
    api: Api
    scope: Scope
    purpose: str
    messages: tuple[Any, ...]


def parse_session(data: object, *, name: str = "session") -> ReplaySession:
    if not isinstance(data, Mapping):
        raise MonitorInputError(f"{name}: expected a JSON object with api, scope and messages")
    api = data.get("api")
    if api not in ("openai", "anthropic"):
        raise MonitorInputError(f'{name}: api must be "openai" or "anthropic", not {api!r}')
    scope = data.get("scope", [])
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        raise MonitorInputError(f"{name}: scope must be a list of strings")
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise MonitorInputError(f"{name}: messages must be a list of API-native messages")
    purpose = data.get("purpose", "")
    try:
        parsed = Scope.parse(scope)
    except MonitorInputError as exc:
        raise MonitorInputError(f"{name}: {exc.message}") from None
    return ReplaySession(
        api=api,
        scope=parsed,
        purpose=purpose if isinstance(purpose, str) else "",
        messages=tuple(messages),
    )


def load_session(path: Path) -> ReplaySession:
    try:
        size = path.stat().st_size
        if size > MAX_SESSION_BYTES:
            raise MonitorInputError(f"{path}: larger than {MAX_SESSION_BYTES} bytes")
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise MonitorInputError(f"{path}: cannot read: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise MonitorInputError(f"{path}: not valid JSON: {exc}") from None
    return parse_session(data, name=str(path))


def session_events(api: Api, messages: Sequence[Any]) -> Iterator[ToolEvent]:
    """Events in conversation order: each message's calls, or its tool results."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message_calls(api, [message]):
            names[call.id] = call.name
            yield call_event(call)
        for result in message_results(api, [message], names):
            yield result_event(result)


def replay(engine: RuleEngine, session: ReplaySession) -> list[RuleMatch]:
    state = SessionState()
    matches: list[RuleMatch] = []
    for i, event in enumerate(session_events(session.api, session.messages)):
        matches.extend(engine.evaluate(event, session.scope, state, now=float(i)))
    return matches


def alerts_json(matches: Sequence[RuleMatch]) -> dict[str, list[dict[str, str]]]:
    return {
        "alerts": [
            {
                "category": m.category.value,
                "rule": m.rule_id,
                "severity": m.severity.value,
                "tool_call_id": m.tool_call_id,
            }
            for m in matches
        ]
    }


__all__ = [
    "ReplaySession",
    "alerts_json",
    "load_session",
    "parse_session",
    "replay",
    "session_events",
]
