"""The shipped tool_call policies (policy/default/tool_call.cedar) decide as documented in
docs/monitor.md ("Actions") and docs/policies.md: vetted tiers flag, partner and
maintainer hold sandbox-escape, exfiltration and public-disclosure, public blocks, and a
tier no policy names is denied by default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from policy_helpers import make_principal, make_request, write

from enclave.config import TierConfig
from enclave.gateway.tiers import tiers_document
from enclave.monitor import Category
from enclave.monitor.actions import SEVERITY_SCORE
from enclave.monitor.interface import Severity
from enclave.policy import Advice, PolicyEngine, PolicyRequest, default_directory

HELD = {Category.SANDBOX_ESCAPE, Category.EXFILTRATION, Category.PUBLIC_DISCLOSURE}


def alert(tier: str, category: str, severity: Severity = Severity.HIGH) -> PolicyRequest:
    """What the monitor asks for one alert (monitor.actions.CedarActions)."""
    return make_request(
        make_principal(tier),
        action="tool_call",
        model="demo",
        variant="demo",
        risk_category=category,
        risk_score=SEVERITY_SCORE[severity],
    )


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("severity", [Severity.LOW, Severity.CRITICAL])
def test_each_tier_decides_each_category_as_documented(
    engine: PolicyEngine, category: Category, severity: Severity
) -> None:
    for tier in ("partner", "maintainer"):
        decision = engine.decide(alert(tier, category.value, severity))
        if category in HELD:
            assert (decision.allowed, decision.advice) == (False, Advice.HOLD), tier
            assert decision.policies == ("tool-call-vetted-hold",)
        else:
            assert (decision.allowed, decision.advice) == (True, Advice.FLAG), tier
            assert decision.policies == ("tool-call-vetted-flag",)

    operator = engine.decide(alert("operator", category.value, severity))
    assert (operator.allowed, operator.advice) == (True, Advice.FLAG)

    public = engine.decide(alert("public", category.value, severity))
    assert (public.allowed, public.advice) == (False, Advice.BLOCK)
    assert "tool-call-public-block" in public.policies


def test_a_tier_no_policy_names_is_blocked_by_default(tiers: dict[str, TierConfig]) -> None:
    tiers["research"] = tiers["partner"]
    engine = PolicyEngine.load(tiers=tiers)
    decision = engine.decide(alert("research", "persistence"))
    assert (decision.allowed, decision.advice, decision.default_deny) == (
        False,
        Advice.BLOCK,
        True,
    )


def test_the_purpose_binding_applies_to_tool_calls_too(engine: PolicyEngine) -> None:
    principal = make_principal("partner", purposes=("general",))
    decision = engine.decide(
        make_request(
            principal,
            action="tool_call",
            purpose="penetration-testing",
            risk_category="persistence",
            risk_score="0.5000",
        )
    )
    assert (decision.allowed, decision.advice) == (False, Advice.BLOCK)
    assert "purpose-not-on-key" in decision.policies


def test_the_table_shows_tool_calls_and_the_tiers_page_does_not(engine: PolicyEngine) -> None:
    table = engine.subtraction_table()
    tools = {
        (r.tier, r.category): r.summary
        for r in table.rows
        if r.action == "tool_call" and r.category in {"exfiltration", "none"}
    }
    assert tools == {
        ("public", "none"): "block",
        ("public", "exfiltration"): "block",
        ("maintainer", "none"): "flag",
        ("maintainer", "exfiltration"): "hold",
        ("partner", "none"): "flag",
        ("partner", "exfiltration"): "hold",
        ("operator", "none"): "flag",
        ("operator", "exfiltration"): "flag",
    }
    page = tiers_document(table)
    assert not {c.value for c in HELD} & set(page["categories"])
    assert not {c.value for c in HELD} & set(page["tiers"]["public"]["blocked"])


def _examples() -> list[str]:
    """The commented example policies at the end of the shipped file, uncommented."""
    text = (default_directory() / "tool_call.cedar").read_text(encoding="utf-8")
    blocks = re.findall(r"((?://   [^\n]*\n)+)", text)
    return [re.sub(r"(?m)^//   ", "", b) for b in blocks]


def test_the_documented_stricter_examples_are_valid_and_do_what_they_say(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    examples = _examples()
    assert len(examples) == 2
    for index, policy in enumerate(examples):
        write(policy_dir, f"zz-example-{index}.cedar", policy)
    engine = PolicyEngine.load(policy_dir, tiers=tiers)
    scope = engine.decide(alert("partner", "scope-violation"))
    assert (scope.allowed, scope.advice) == (False, Advice.BLOCK)
    assert scope.policies == ("tool-call-scope-block",)
    hunt = engine.decide(alert("public", "credential-access"))
    assert hunt.advice is Advice.TERMINATE
    assert engine.decide(alert("partner", "persistence")).advice is Advice.FLAG
