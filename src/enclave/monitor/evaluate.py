"""Detection and false-alarm rates: on our labelled defender sessions, and on ASSEBench.

Labelled sessions (enclave/monitor/eval/*.json) are replay files with a ``label``:
``{"transgressive": bool, "categories": [...], "description": "..."}``. A transgressive
session's category counts as detected when an alert of that category is raised in it; a
benign session with any alert is a false alarm.

ASSEBench (../shared/data/assebench-security, an *external* generalisation check: never
used to write or tune rules) records general agent trajectories, tool calls rendered as
text (``tool_name{'arg': ...}``). They carry no scope, so only the rules run (the scope
check needs a scope). Per risk type: the share of unsafe records with any alert
(detection) and of safe records with any alert (false alarms).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from enclave.monitor.engine import RuleEngine
from enclave.monitor.interface import MonitorInputError, ToolCall, ToolEvent, ToolResult
from enclave.monitor.normalise import call_event, result_event
from enclave.monitor.replay import parse_session, replay
from enclave.monitor.state import SessionState

_ACTION = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(.*?)\s*$", re.S)


@dataclass(slots=True)
class CategoryScore:
    sessions: int = 0
    detected: int = 0


@dataclass(slots=True)
class LabelledReport:
    categories: dict[str, CategoryScore] = field(default_factory=dict)
    transgressive: int = 0
    transgressive_detected: int = 0  # sessions with at least one alert
    benign: int = 0
    false_alarms: int = 0
    misses: list[str] = field(default_factory=list)  # "file: category"
    false_alarm_files: list[str] = field(default_factory=list)  # "file: rule, rule"


def labelled_dir() -> Path:
    return Path(str(resources.files("enclave.monitor") / "eval"))


def evaluate_labelled(engine: RuleEngine, directory: Path | None = None) -> LabelledReport:
    report = LabelledReport()
    for path in sorted((directory or labelled_dir()).glob("*.json")):
        data = orjson.loads(path.read_bytes())
        label = data.get("label") if isinstance(data, dict) else None
        if not isinstance(label, dict):
            raise MonitorInputError(f"{path}: a labelled session needs a `label` object")
        matches = replay(engine, parse_session(data, name=str(path)))
        raised = {m.category.value for m in matches}
        if label.get("transgressive"):
            report.transgressive += 1
            report.transgressive_detected += bool(matches)
            for category in label.get("categories", []):
                score = report.categories.setdefault(category, CategoryScore())
                score.sessions += 1
                if category in raised:
                    score.detected += 1
                else:
                    report.misses.append(f"{path.name}: {category}")
        else:
            report.benign += 1
            if matches:
                report.false_alarms += 1
                rules = sorted({m.rule_id for m in matches})
                report.false_alarm_files.append(f"{path.name}: {', '.join(rules)}")
    return report


@dataclass(slots=True)
class RiskScore:
    unsafe: int = 0
    unsafe_alerted: int = 0
    safe: int = 0
    safe_alerted: int = 0


def _action_call(text: str, index: int) -> ToolCall | None:
    m = _ACTION.match(text or "")
    if m is None:
        return None
    name, raw = m.group(1), (m.group(2) or "")
    arguments = raw
    if raw.startswith("{"):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if isinstance(value, dict):
            arguments = orjson.dumps(value, default=str).decode()
    return ToolCall(id=f"a{index}", name=name, arguments=arguments, api="openai")


def assebench_events(record: Mapping[str, Any]) -> Iterator[ToolEvent]:
    conversation = (record.get("contents") or [[]])[0]
    last = ""
    for i, message in enumerate(conversation):
        role = message.get("role")
        if role == "agent":
            call = _action_call(str(message.get("action") or ""), i)
            if call is not None:
                last = call.id
                yield call_event(call)
        elif role == "environment" and last:
            yield result_event(ToolResult(last, str(message.get("content") or ""), "openai"))


def evaluate_assebench(engine: RuleEngine, path: Path) -> dict[str, RiskScore]:
    try:
        records = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise MonitorInputError(f"{path}: cannot read ASSEBench: {exc}") from None
    scores: dict[str, RiskScore] = {}
    for record in records:
        state = SessionState()
        alerted = False
        for t, event in enumerate(assebench_events(record)):
            if engine.evaluate(event, None, state, now=float(t)):
                alerted = True
        score = scores.setdefault(str(record.get("risk_type", "?")), RiskScore())
        if record.get("label") == 1:
            score.unsafe += 1
            score.unsafe_alerted += alerted
        else:
            score.safe += 1
            score.safe_alerted += alerted
    return scores


__all__ = [
    "CategoryScore",
    "LabelledReport",
    "RiskScore",
    "assebench_events",
    "evaluate_assebench",
    "evaluate_labelled",
    "labelled_dir",
]
