"""Cedar policy on the hot path: reloads (a broken file keeps the old policies in force),
and what each advice makes the gateway do."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_support import Gateway, Swappable, openai_error, run_gateway

from enclave.config import Settings
from enclave.policy import PolicyError, default_directory, reload_and_record
from enclave.registry import Operator, RegistryService
from enclave.store import Database

ASK = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}

NO_PUBLIC = """
@id("no-public-today")
@advice("block")
forbid (principal in Tier::"public", action, resource);
"""

HOLD_PUBLIC = """
@id("hold-public")
@advice("hold")
forbid (principal in Tier::"public", action, resource);
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(default_directory(), target)
    return target


@pytest.fixture
def governed(
    gateway_settings: Settings,
    policy_dir: Path,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> Iterator[Gateway]:
    settings = gateway_settings.model_copy(update={"policy_dir": policy_dir})
    yield from run_gateway(
        settings, db, registry, admin, second_admin, clock, enclave_server, upstream
    )


def _reload(gateway: Gateway) -> str:
    """What SIGHUP does in `enclave serve` (install_sighup_reload's hook): reload, and
    record the outcome through the gateway's recorder."""
    event = reload_and_record(gateway.client.policy)
    gateway.client.recorder.record(event)
    return event.kind


def test_policy_reload_with_a_broken_file_keeps_the_old_policies(
    governed: Gateway, policy_dir: Path
) -> None:
    assert governed.chat(governed.keys.public, ASK).status_code == 200
    (policy_dir / "extra.cedar").write_text(NO_PUBLIC.replace("forbid (", "forbid ((("))
    with pytest.raises(PolicyError) as broken:
        governed.client.policy.reload()
    assert "extra.cedar" in str(broken.value)
    assert _reload(governed) == "policy.reload_failed"
    # Still the old policies: the public key is still served.
    assert governed.chat(governed.keys.public, ASK).status_code == 200
    failed = governed.events("policy.reload_failed")
    assert failed and "extra.cedar" in failed[-1].event.data["file"]

    (policy_dir / "extra.cedar").write_text(NO_PUBLIC)
    assert _reload(governed) == "policy.reloaded"
    error = openai_error(governed.chat(governed.keys.public, ASK), 403, "policy_denied")
    assert "no-public-today" in error["message"]
    decision = governed.events()[-1].event.data["decision"]
    assert decision["allowed"] is False and decision["advice"] == "block"
    assert "no-public-today" in decision["policies"]
    # Other tiers are untouched.
    assert governed.chat(governed.keys.partner_one, ASK).status_code == 200


def test_hold_advice_refuses_pending_review(governed: Gateway, policy_dir: Path) -> None:
    (policy_dir / "hold.cedar").write_text(HOLD_PUBLIC)
    governed.client.policy.reload()
    error = openai_error(governed.chat(governed.keys.public, ASK), 403, "policy_denied")
    assert error["message"].startswith("held for an operator's review")
    assert governed.upstream.requests == []
    assert governed.events()[-1].event.data["decision"]["advice"] == "hold"


def test_default_deny_when_no_policy_permits(governed: Gateway, policy_dir: Path) -> None:
    for path in policy_dir.glob("*.cedar"):
        path.write_text("// nothing permitted\n")
    governed.client.policy.reload()
    error = openai_error(governed.chat(governed.keys.partner_one, ASK), 403, "policy_denied")
    assert "default deny" in error["message"]
    decision = governed.events()[-1].event.data["decision"]
    assert decision == {"allowed": False, "advice": "block", "policies": [], "errors": []}
