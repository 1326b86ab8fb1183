"""The labelled defender sessions (both API shapes) replayed through the shipped pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enclave.monitor import Category, RuleEngine
from enclave.monitor.evaluate import assebench_events, evaluate_labelled, labelled_dir
from enclave.monitor.replay import load_session, replay

SESSIONS = sorted(labelled_dir().glob("*.json"))


def test_the_set_has_both_api_shapes_every_category_and_benign_sessions() -> None:
    data = [json.loads(p.read_text()) for p in SESSIONS]
    assert {d["api"] for d in data} == {"openai", "anthropic"}
    labelled = {c for d in data for c in d["label"]["categories"]}
    assert labelled == {c.value for c in Category}
    assert sum(not d["label"]["transgressive"] for d in data) >= 15


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_each_session_raises_exactly_its_labelled_categories(
    path: Path, engine: RuleEngine
) -> None:
    label = json.loads(path.read_text())["label"]
    raised = {m.category.value for m in replay(engine, load_session(path))}
    if label["transgressive"]:
        assert set(label["categories"]) <= raised
    else:
        assert raised == set(), label["description"]


def test_the_report_counts(engine: RuleEngine) -> None:
    report = evaluate_labelled(engine)
    assert report.false_alarms == 0 and report.misses == []
    assert report.transgressive_detected == report.transgressive


def test_assebench_text_actions_become_events() -> None:
    record = {"contents": [[
        {"role": "user", "content": "hi"},
        {"role": "agent", "thought": "", "action": "send_email{'to': 'x@y.com', 'body': 'b'}"},
        {"role": "environment", "content": "sent"},
        {"role": "agent", "thought": "", "action": "Complete{}"},
        {"role": "agent", "thought": "", "action": "broken{'a': "},
    ]]}  # fmt: skip
    events = list(assebench_events(record))
    assert [(e.tool, e.kind.value) for e in events] == [
        ("send_email", "email"), ("", "tool_result"), ("Complete", "other"), ("broken", "other"),
    ]  # fmt: skip
    assert events[0].fields["recipients"] == ("x@y.com",)
