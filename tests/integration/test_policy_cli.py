"""`enclave policy`: init, check, explain, table in-process (typer's CliRunner, a real
SQLite database made by `enclave init`), and reload against a real second process that
installed the SIGHUP hook, signalled through the pid file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli_support import Result, clean_env, run_cli
from enclave.config import load_settings
from enclave.policy.reload import PID_FILE
from enclave.registry import ApiKey
from enclave.runtime import open_runtime

ACCESS_LINE_PURPOSE_FORBID = "access.cedar:26"


Cli = Callable[..., Result]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    db_url = f"sqlite:///{tmp_path / 'enclave.db'}"
    return clean_env(monkeypatch, tmp_path, db_url, cwd=tmp_path / "cwd")


@pytest.fixture
def cli(env: dict[str, str]) -> Cli:
    def invoke(*args: str, extra_env: dict[str, str] | None = None) -> Result:
        return run_cli(*args, env=extra_env)

    assert invoke("init").code == 0
    return invoke


@pytest.fixture
def public_key(cli: Cli, env: dict[str, str]) -> Iterator[ApiKey]:
    rt = open_runtime(load_settings(environ=env))
    try:
        reg = rt.registry
        admin = reg.operator_for_cli(None)
        _, application = reg.create_org(admin, name="Open", kind="public", tier="public")
        reg.decide(admin, application.id, decision="approve", reason="ok")
        yield reg.issue_key(admin, "Open", purposes=["general"]).key
    finally:
        rt.close()


def test_init_then_check_a_directory(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "policies"
    done = cli("policy", "init", str(target))
    assert done.code == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == [
        "access.cedar",
        "risk.cedar",
        "schema.cedarschema",
        "tool_call.cedar",
    ]
    again = cli("policy", "init", str(target))
    assert again.code == 2 and "already has" in again.stderr and "--force" in again.stderr
    assert cli("policy", "init", "--schema-only", str(target)).code == 0

    checked = cli("policy", "check", str(target))
    assert checked.code == 0, checked.stderr
    assert "ok: 9 policies in 3 files" in checked.stdout
    assert "invoke-entitled" in checked.stdout and "access.cedar:15" in checked.stdout

    risk = target / "risk.cedar"
    text = risk.read_text()
    policy = 'context.risk_score.greaterThanOrEqual(decimal("0.8000"))'
    assert policy in text
    risk.write_text(text.replace(policy, policy.replace("risk_score", "risk_scroe")))
    broken = cli("policy", "check", str(target))
    assert broken.code == 2
    assert "risk.cedar:10: does not match the schema" in broken.stderr
    assert "attribute `risk_scroe` in context" in broken.stderr
    assert "also line 23" not in broken.stderr  # only policy 10 is wrong

    # Without DIR, check reads the policy_dir setting.
    from_env = cli("policy", "check", extra_env={"ENCLAVE_POLICY_DIR": str(target)})
    assert from_env.code == 2 and "risk.cedar:10" in from_env.stderr
    json_ok = cli("policy", "check", "--json")
    assert json_ok.code == 0 and json_ok.json()["policy_set"]["files"] == [
        "access.cedar",
        "risk.cedar",
        "tool_call.cedar",
    ]


def test_explain_by_prefix_and_by_id(cli: Cli, public_key: ApiKey) -> None:
    allowed = cli(
        "policy", "explain", "--key", public_key.prefix, "--model", "frontier",
        "--purpose", "general",
    )  # fmt: skip
    assert allowed.code == 0, allowed.stderr
    assert allowed.stdout.startswith("decision  ALLOW (advice: allow)")
    assert "allowed by invoke-entitled" in allowed.stdout
    assert f"key {public_key.id}" in allowed.stdout and "tier public" in allowed.stdout

    denied = cli(
        "policy", "explain", "--key", public_key.id, "--model", "frontier",
        "--purpose", "penetration-testing", "--variant", "frontier-safe",
    )  # fmt: skip
    assert denied.code == 3
    assert denied.stdout.startswith("decision  DENY (advice: block)")
    assert "purpose-not-allowed-for-tier" in denied.stdout
    assert ACCESS_LINE_PURPOSE_FORBID in denied.stdout
    assert "-> variant frontier-safe" in denied.stdout

    blocked = cli(
        "policy", "explain", "--key", public_key.prefix, "--model", "frontier",
        "--purpose", "general", "--risk-category", "malware", "--risk-score", "0.9", "--json",
    )  # fmt: skip
    assert blocked.code == 3
    report = blocked.json()
    assert report["key_state"] == "active"
    assert report["explanation"]["decision"]["advice"] == "block"
    assert report["explanation"]["decision"]["policies"] == ["public-block-high-risk"]


def test_explain_errors(cli: Cli, public_key: ApiKey) -> None:
    unknown = cli("policy", "explain", "--key", "enc_nope", "--model", "m", "--purpose", "general")
    assert unknown.code == 4 and "no key with id or prefix 'enc_nope'" in unknown.stderr
    bad = cli(
        "policy", "explain", "--key", public_key.prefix, "--model", "m", "--purpose", "general",
        "--risk-score", "2",
    )  # fmt: skip
    assert bad.code == 2 and "risk_score must be a number in [0, 1]" in bad.stderr
    action = cli(
        "policy", "explain", "--key", public_key.prefix, "--model", "m", "--purpose", "general",
        "--action", "delete",
    )  # fmt: skip
    assert action.code == 2 and "unknown action 'delete'" in action.stderr


def test_table(cli: Cli) -> None:
    done = cli("policy", "table")
    assert done.code == 0, done.stderr
    assert "thresholds in the policies: 0.5000, 0.8000" in done.stdout
    assert "allow; flag >= 0.5000; block >= 0.8000" in done.stdout
    data = cli("policy", "table", "--category", "phishing", "--json").json()
    # tool_call.cedar's held categories are probed for tool calls only.
    held = ["sandbox-escape", "exfiltration", "public-disclosure"]
    assert data["categories"] == ["none", "phishing", *held]
    public = [
        r
        for r in data["rows"]
        if (r["tier"], r["category"], r["action"]) == ("public", "phishing", "invoke")
    ]
    assert [b["advice"] for b in public[0]["bands"]] == ["allow", "flag", "block"]


def test_reload_without_a_running_server(cli: Cli, env: dict[str, str]) -> None:
    done = cli("policy", "reload")
    assert done.code == 4
    assert "no running Enclave server found" in done.stderr
    # A pid file nobody holds a lock on is stale: never signalled.
    Path(env["ENCLAVE_STATE_DIR"], PID_FILE).write_text(f"{os.getpid()}\n")
    stale = cli("policy", "reload")
    assert stale.code == 4 and "stale" in stale.stderr


# The hook inside a running event loop (how the ASGI server installs it) ...
ASYNC_SERVER = """
import asyncio, json, sys
from enclave.config import load_settings
from enclave.policy import PolicyEngine, install_sighup_reload

async def main():
    settings = load_settings()
    engine = PolicyEngine.from_settings(settings)
    events = []
    hook = install_sighup_reload(engine, state_dir=settings.state_dir, on_event=events.append)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    hook.close()
    print(json.dumps([[e.kind, e.data.get("file")] for e in events]), flush=True)

asyncio.run(main())
"""

# ... and without one (a plain signal handler that reloads on a thread).
THREAD_SERVER = """
import json, sys
from enclave.config import load_settings
from enclave.policy import PolicyEngine, install_sighup_reload

settings = load_settings()
engine = PolicyEngine.from_settings(settings)
events = []
hook = install_sighup_reload(engine, state_dir=settings.state_dir, on_event=events.append)
print("ready", flush=True)
sys.stdin.read()
hook.close()
print(json.dumps([[e.kind, e.data.get("file")] for e in events]), flush=True)
"""


@pytest.mark.parametrize("script", [ASYNC_SERVER, THREAD_SERVER], ids=["loop", "thread"])
def test_reload_signals_the_server_and_prints_its_verdict(
    cli: Cli, env: dict[str, str], tmp_path: Path, script: str
) -> None:
    policies = tmp_path / "policies"
    assert cli("policy", "init", str(policies)).code == 0
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    server_env.update(env, ENCLAVE_POLICY_DIR=str(policies))
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=server_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None and server.stdin is not None
            assert server.stdout.readline().strip() == "ready"

            (policies / "zz-extra.cedar").write_text("forbid (principal, action, resource)\n")
            failed = cli("policy", "reload")
            assert failed.code == 2
            assert "reload failed: zz-extra.cedar:1: syntax error" in failed.stderr
            assert "keeps the 9 policies in force" in failed.stderr

            (policies / "zz-extra.cedar").write_text(
                '@id("no-tools") forbid (principal, action == Action::"tool_call", resource);\n'
            )
            ok = cli("policy", "reload")
            assert ok.code == 0, ok.stderr
            assert f"reloaded: 10 policies from {policies}" in ok.stdout

            server.stdin.close()
            events = json.loads(server.stdout.readline())
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                server.kill()
    assert events == [["policy.reload_failed", "zz-extra.cedar"], ["policy.reloaded", None]]
    assert not Path(env["ENCLAVE_STATE_DIR"], PID_FILE).exists()
