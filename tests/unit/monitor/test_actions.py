"""Actions from the documented table and from the shipped Cedar policies (tool_call.cedar)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from enclave.config import Settings
from enclave.monitor import Action, Category, RuleMatch, Scope, SessionContext, Severity
from enclave.monitor.actions import CedarActions, TableActions
from enclave.policy import PolicyEngine, default_directory
from enclave.registry import Principal


def match(category: Category, severity: Severity = Severity.HIGH) -> RuleMatch:
    return RuleMatch("r", "t", category, severity, "c1")


def ctx(tier: str, principal: Principal | None = None) -> SessionContext:
    return SessionContext(
        session_id="ses_x",  # type: ignore[arg-type]
        client_session_id="x",
        org_id="o",
        key_id="k",
        tier=tier,
        purpose=principal.key.purposes[0] if principal else "general",
        scope=Scope.parse([]),
        principal=principal,
        model="demo",
        variant="demo",
    )


@pytest.mark.parametrize(
    ("tier", "category", "action"),
    [
        ("partner", Category.CREDENTIAL_ACCESS, Action.FLAG),
        ("partner", Category.EXFILTRATION, Action.HOLD),
        ("maintainer", Category.PUBLIC_DISCLOSURE, Action.HOLD),
        ("maintainer", Category.PERSISTENCE, Action.FLAG),
        ("operator", Category.SANDBOX_ESCAPE, Action.FLAG),
        ("public", Category.SCOPE_VIOLATION, Action.BLOCK),
        ("unknown-tier", Category.PERSISTENCE, Action.BLOCK),
    ],
)
def test_table(tier: str, category: Category, action: Action) -> None:
    assert TableActions().decide(ctx(tier), match(category)) is action


@pytest.fixture
def cedar(tmp_path: Path, settings: Settings) -> CedarActions:
    return CedarActions(PolicyEngine.load(default_directory(), tiers=settings.tiers))


def test_cedar_policies_give_the_same_answers_as_the_table(
    cedar: CedarActions, make_principal: Callable[..., Principal]
) -> None:
    partner, public = make_principal("partner"), make_principal("public", scope=())
    for principal in (partner, public):
        for category in Category:
            expected = TableActions().decide(ctx(principal.tier), match(category))
            assert cedar.decide(ctx(principal.tier, principal), match(category)) is expected


def test_cedar_without_tool_call_policies_fails_closed(
    tmp_path: Path, settings: Settings, make_principal: Callable[..., Principal]
) -> None:
    directory = tmp_path / "policies"
    shutil.copytree(default_directory(), directory)
    (directory / "tool_call.cedar").unlink()  # an operator's directory without them
    bare = CedarActions(PolicyEngine.load(directory, tiers=settings.tiers))
    partner = make_principal("partner")
    assert bare.decide(ctx("partner", partner), match(Category.PERSISTENCE)) is Action.BLOCK
    # no principal (a replay): the table answers
    assert bare.decide(ctx("partner"), match(Category.PERSISTENCE)) is Action.FLAG
