"""Reload: a broken directory keeps the old policies in force and says which file; a good
one takes effect on the next decision; both outcomes become events; the SIGHUP hook's pid
and status files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from policy_helpers import make_request, write

from enclave.config import TierConfig
from enclave.errors import Conflict
from enclave.events import Event
from enclave.policy import (
    Advice,
    PolicyEngine,
    PolicyError,
    install_sighup_reload,
    read_status,
    reload_and_record,
)
from enclave.policy.reload import PID_FILE, ServerNotRunning, server_pid

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BLOCK_GENERAL = (
    '@id("no-general") @advice("terminate")\n'
    "forbid (principal, action, resource)\n"
    '  when { context.purpose == Purpose::"general" };\n'
)


def test_reload_with_a_broken_file_keeps_the_old_policies(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    engine = PolicyEngine.load(policy_dir, tiers=tiers)
    before = engine.info
    assert engine.decide(make_request()).allowed
    write(policy_dir, "zz-broken.cedar", BLOCK_GENERAL + "\nforbid (principal, action,;\n")
    with pytest.raises(PolicyError) as caught:
        engine.reload()
    error = caught.value
    assert (error.file, error.line) == ("zz-broken.cedar", 5)
    assert error.message.startswith("zz-broken.cedar:5: syntax error")
    assert error.hint is not None and "stay" in error.hint and before.digest in error.hint
    # The forbid in the broken file is not in force, nor anything else from it.
    assert engine.info == before
    assert engine.decide(make_request()).allowed


def test_reload_with_a_schema_error_keeps_the_old_policies(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    engine = PolicyEngine.load(policy_dir, tiers=tiers)
    write(policy_dir, "risk.cedar", "permit (principal, action, resource) when { context.x };\n")
    with pytest.raises(PolicyError) as caught:
        engine.reload()
    assert caught.value.file == "risk.cedar" and "`x`" in caught.value.problem
    decision = engine.decide(make_request(risk_category="malware", risk_score=0.9))
    assert decision.policies == ("public-block-high-risk",)


def test_a_good_reload_takes_effect_on_the_next_decision(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    engine = PolicyEngine.load(policy_dir, tiers=tiers)
    assert engine.decide(make_request()).allowed  # cached under the old policies
    write(policy_dir, "zz-terminate.cedar", BLOCK_GENERAL)
    ids = engine.reload()
    assert "no-general" in ids and "invoke-entitled" in ids
    decision = engine.decide(make_request())
    assert not decision.allowed
    assert decision.advice is Advice.TERMINATE
    assert decision.policies == ("no-general",)


def test_reload_events_for_success_and_failure(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    engine = PolicyEngine.load(policy_dir, tiers=tiers)
    write(policy_dir, "zz.cedar", BLOCK_GENERAL)
    ok = reload_and_record(engine, actor="operator:op_1", clock=lambda: AT)
    assert (ok.kind, ok.actor, ok.subject, ok.at) == (
        "policy.reloaded",
        "operator:op_1",
        "policy",
        AT,
    )
    assert ok.data["digest"] == engine.info.digest
    assert ok.data["files"] == ["access.cedar", "risk.cedar", "tool_call.cedar", "zz.cedar"]
    assert "no-general" in ok.data["policies"]
    write(policy_dir, "zz.cedar", "permit (principal, action, resource)\n")
    failed = reload_and_record(engine, clock=lambda: AT)
    assert failed.kind == "policy.reload_failed"
    assert failed.data["file"] == "zz.cedar" and failed.data["line"] == 1
    assert failed.data["error"].startswith("zz.cedar:1: syntax error")
    assert failed.data["in_force"] == ok.data["digest"]


def test_the_sighup_hook_publishes_status_and_events(
    policy_dir: Path, tiers: dict[str, TierConfig], tmp_path: Path
) -> None:
    engine = PolicyEngine.load(policy_dir, tiers=tiers)
    state = tmp_path / "state"
    events: list[Event] = []
    # Without a running loop the hook installs a plain handler; `trigger` is what the
    # handler runs (the real signal is sent in tests/integration/test_policy_cli.py).
    hook = install_sighup_reload(engine, state_dir=state, on_event=events.append, clock=lambda: AT)
    try:
        assert server_pid(state) == os.getpid()
        status = read_status(state)
        assert status is not None
        assert (status["generation"], status["kind"]) == (0, "policy.loaded")
        assert status["in_force"]["digest"] == engine.info.digest
        write(policy_dir, "zz.cedar", "forbid (principal, action resource);\n")
        event = hook.trigger()
        assert event.kind == "policy.reload_failed" and events == [event]
        status = read_status(state)
        assert status is not None
        assert (status["generation"], status["kind"]) == (1, "policy.reload_failed")
        assert status["data"]["file"] == "zz.cedar"
        with pytest.raises(Conflict, match=f"pid {os.getpid()}"):
            install_sighup_reload(engine, state_dir=state)
    finally:
        hook.close()
    assert not (state / PID_FILE).exists()
    with pytest.raises(ServerNotRunning, match="does not exist"):
        server_pid(state)


def test_a_pid_file_nobody_holds_is_stale(tmp_path: Path) -> None:
    # A server that crashed leaves its pid file; its lock died with it. The pid may have
    # been reused by an unrelated process, which must never get SIGHUP.
    (tmp_path / PID_FILE).write_text(f"{os.getpid()}\n")
    with pytest.raises(ServerNotRunning, match="stale"):
        server_pid(tmp_path)
