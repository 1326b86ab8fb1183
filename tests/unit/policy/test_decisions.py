"""Decisions of the shipped policies and of small custom ones: default deny, tiers,
purposes, models, advice and its precedence, fail-closed on what cannot be evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_helpers import make_principal, make_request, write

from enclave.config import TierConfig
from enclave.policy import Advice, PolicyEngine

ENTITLED = """
@id("entitled")
permit (principal, action == Action::"invoke", resource)
when { principal.purposes.contains(context.purpose) };
"""


def test_entitled_request_is_allowed_by_the_entitlement_permit(engine: PolicyEngine) -> None:
    decision = engine.decide(make_request())
    assert decision.allowed
    assert decision.advice is Advice.ALLOW
    assert decision.policies == ("invoke-entitled",)
    assert decision.errors == ()


def test_no_matching_policy_denies_and_says_so(
    tmp_path: Path, tiers: dict[str, TierConfig]
) -> None:
    write(
        tmp_path,
        "only-partners.cedar",
        ENTITLED.replace("(principal,", '(principal in Tier::"partner",'),
    )
    engine = PolicyEngine.load(tmp_path, tiers=tiers)
    decision = engine.decide(make_request(make_principal("public")))
    assert not decision.allowed
    assert decision.advice is Advice.BLOCK
    assert decision.policies == ()
    assert decision.default_deny
    assert "no policy permits this request (default deny)" in decision.reason
    # ...and the same engine allows what the one permit covers.
    assert engine.decide(make_request(make_principal("partner"))).allowed


def test_tool_call_on_a_tier_no_policy_names_is_denied_by_default(
    tiers: dict[str, TierConfig],
) -> None:
    tiers["research"] = tiers["partner"]
    engine = PolicyEngine.load(tiers=tiers)
    decision = engine.decide(make_request(make_principal("research"), action="tool_call"))
    assert not decision.allowed
    assert decision.default_deny


def test_tier_denied_a_model(tiers: dict[str, TierConfig]) -> None:
    tiers["public"] = tiers["public"].model_copy(update={"models": ("frontier-mini",)})
    engine = PolicyEngine.load(tiers=tiers)
    denied = engine.decide(make_request(model="frontier", variant="frontier-full"))
    assert not denied.allowed
    assert denied.advice is Advice.BLOCK
    assert denied.policies == ("model-not-allowed-for-tier",)
    allowed = engine.decide(make_request(model="frontier-mini", variant="frontier-mini-safe"))
    assert allowed.allowed
    # A tier entry may name the variant instead of the public model name.
    tiers["public"] = tiers["public"].model_copy(update={"models": ("frontier-safe",)})
    by_variant = PolicyEngine.load(tiers=tiers)
    assert by_variant.decide(make_request(model="frontier", variant="frontier-safe")).allowed
    assert not by_variant.decide(make_request(model="frontier", variant="frontier-full")).allowed


def test_tier_with_no_models_may_use_none(tiers: dict[str, TierConfig]) -> None:
    tiers["public"] = tiers["public"].model_copy(update={"models": ()})
    decision = PolicyEngine.load(tiers=tiers).decide(make_request())
    assert not decision.allowed
    assert decision.policies == ("model-not-allowed-for-tier",)


def test_purpose_not_on_the_key(engine: PolicyEngine) -> None:
    partner = make_principal("partner", ("vuln-detection",))
    decision = engine.decide(make_request(partner, purpose="penetration-testing"))
    assert not decision.allowed
    assert decision.policies == ("purpose-not-on-key",)
    assert engine.decide(make_request(partner, purpose="vuln-detection")).allowed


def test_purpose_not_allowed_for_the_tier(engine: PolicyEngine) -> None:
    # A key can hold a purpose its tier no longer allows (the tier table changed after
    # issue); the tier forbid catches it even though the key holds it.
    maintainer = make_principal("maintainer", ("penetration-testing", "general"))
    decision = engine.decide(make_request(maintainer, purpose="penetration-testing"))
    assert not decision.allowed
    assert decision.policies == ("purpose-not-allowed-for-tier",)


def test_both_purpose_forbids_determine_when_both_apply(engine: PolicyEngine) -> None:
    decision = engine.decide(make_request(purpose="binary-testing"))
    assert decision.policies == ("purpose-not-allowed-for-tier", "purpose-not-on-key")


@pytest.mark.parametrize(
    ("tier", "score", "allowed", "advice", "policies"),
    [
        ("public", 0.2, True, Advice.ALLOW, ("invoke-entitled",)),
        ("public", 0.6, True, Advice.FLAG, ("flag-elevated-risk", "invoke-entitled")),
        ("public", 0.8, False, Advice.BLOCK, ("public-block-high-risk",)),
        ("public", 0.95, False, Advice.BLOCK, ("public-block-high-risk",)),
        ("partner", 0.95, True, Advice.FLAG, ("flag-elevated-risk", "invoke-entitled")),
        ("maintainer", 0.95, True, Advice.FLAG, ("flag-elevated-risk", "invoke-entitled")),
        ("partner", 0.49, True, Advice.ALLOW, ("invoke-entitled",)),
    ],
)
def test_vetted_tiers_are_flagged_where_the_public_tier_is_blocked(
    engine: PolicyEngine,
    tier: str,
    score: float,
    allowed: bool,
    advice: Advice,
    policies: tuple[str, ...],
) -> None:
    request = make_request(make_principal(tier), risk_category="malware", risk_score=score)
    decision = engine.decide(request)
    assert (decision.allowed, decision.advice, decision.policies) == (allowed, advice, policies)


def test_risk_category_none_is_not_risk(engine: PolicyEngine) -> None:
    decision = engine.decide(make_request(risk_category="none", risk_score=0.99))
    assert decision.allowed
    assert decision.advice is Advice.ALLOW


def test_the_flag_permit_grants_nothing_the_entitlement_forbids_refuse(
    engine: PolicyEngine,
) -> None:
    partner = make_principal("partner", ("vuln-detection",))
    request = make_request(
        partner, purpose="penetration-testing", risk_category="malware", risk_score=0.7
    )
    decision = engine.decide(request)
    assert not decision.allowed
    assert decision.policies == ("purpose-not-on-key",)


ADVICE = """
@id("p-allow") @advice("allow")
permit (principal, action, resource) when { context.session_id like "*a*" };
@id("p-flag") @advice("flag")
permit (principal, action, resource) when { context.session_id like "*f*" };
@id("p-hold") @advice("hold")
permit (principal, action, resource) when { context.session_id like "*h*" };
@id("p-plain")
permit (principal, action, resource) when { context.session_id like "*p*" };
@id("f-block") @advice("block")
forbid (principal, action, resource) when { context.session_id like "*B*" };
@id("f-terminate") @advice("terminate")
forbid (principal, action, resource) when { context.session_id like "*T*" };
@id("f-hold") @advice("hold")
forbid (principal, action, resource) when { context.session_id like "*H*" };
@id("f-plain")
forbid (principal, action, resource) when { context.session_id like "*P*" };
"""


@pytest.mark.parametrize(
    ("session", "allowed", "advice", "policies"),
    [
        ("a", True, Advice.ALLOW, ("p-allow",)),
        ("p", True, Advice.ALLOW, ("p-plain",)),  # a permit without @advice allows
        ("af", True, Advice.FLAG, ("p-allow", "p-flag")),
        ("afh", True, Advice.HOLD, ("p-allow", "p-flag", "p-hold")),
        ("aP", False, Advice.BLOCK, ("f-plain",)),  # a forbid without @advice blocks
        ("aH", False, Advice.HOLD, ("f-hold",)),
        ("aHB", False, Advice.BLOCK, ("f-block", "f-hold")),
        ("aHBT", False, Advice.TERMINATE, ("f-block", "f-hold", "f-terminate")),
        ("fhT", False, Advice.TERMINATE, ("f-terminate",)),  # forbids override permits
        ("x", False, Advice.BLOCK, ()),  # default deny
    ],
)
def test_the_most_severe_advice_of_the_determining_policies_wins(
    tmp_path: Path,
    tiers: dict[str, TierConfig],
    session: str,
    allowed: bool,
    advice: Advice,
    policies: tuple[str, ...],
) -> None:
    write(tmp_path, "advice.cedar", ADVICE)
    decision = PolicyEngine.load(tmp_path, tiers=tiers).decide(make_request(session=session))
    assert (decision.allowed, decision.advice, decision.policies) == (allowed, advice, policies)


def test_an_evaluation_error_fails_closed(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    # Cedar skips a policy whose evaluation errors, which for a forbid would let the
    # request through: the engine refuses instead and reports the error.
    write(tmp_path, "a.cedar", ENTITLED)
    write(
        tmp_path,
        "b.cedar",
        '@id("overflow") @advice("terminate")\n'
        "forbid (principal, action, resource) when { 9223372036854775807 + 1 > 0 };\n",
    )
    decision = PolicyEngine.load(tmp_path, tiers=tiers).decide(make_request())
    assert not decision.allowed
    assert decision.advice is Advice.BLOCK
    assert decision.policies == ()
    assert any("overflow" in e for e in decision.errors)
    assert decision.reason.startswith("denied (fail closed)")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"action": "delete"}, "unknown action 'delete'"),
        ({"context": {"risk_level": 3}}, "['risk_level'] are not declared"),
        ({"context": {"risk_score": 1.5}}, "risk_score must be a number in [0, 1]"),
        ({"context": {"risk_score": "high"}}, "risk_score must be a number in [0, 1]"),
        ({"context": {"risk_score": True}}, "risk_score must be a number in [0, 1]"),
        ({"context": {"risk_category": 7}}, "risk_category must be a string"),
        ({"session_id": "s" * 2000}, "session_id must be a string of at most"),
    ],
)
def test_a_request_that_cannot_be_evaluated_is_denied_not_raised(
    engine: PolicyEngine, change: dict[str, object], error: str
) -> None:
    base = make_request()
    fields = {
        "principal": base.principal,
        "action": base.action,
        "model": base.model,
        "variant": base.variant,
        "purpose": base.purpose,
        "session_id": base.session_id,
        "context": base.context,
    }
    fields.update(change)
    decision = engine.decide(type(base)(**fields))  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.advice is Advice.BLOCK
    assert len(decision.errors) == 1 and error in decision.errors[0]


def test_an_unconfigured_tier_is_denied(engine: PolicyEngine) -> None:
    decision = engine.decide(make_request(make_principal("research")))
    assert not decision.allowed
    assert "tier 'research' of organisation org_1 is not configured" in decision.errors[0]


def test_policies_can_use_the_hierarchy_scope_and_organisation(
    tmp_path: Path, tiers: dict[str, TierConfig]
) -> None:
    write(
        tmp_path,
        "h.cedar",
        '@id("org") permit (principal in Organisation::"org_7", action, resource);\n'
        '@id("tier") permit (principal in Tier::"partner", action, resource);\n'
        '@id("scoped") permit (principal, action, resource)\n'
        '  when { principal.scope.contains(Asset::"repo:acme/app") };\n'
        '@id("sector") permit (principal, action, resource)\n'
        '  when { principal.organisation.sector == "energy" };\n',
    )
    engine = PolicyEngine.load(tmp_path, tiers=tiers)
    assert engine.decide(make_request(make_principal(org_id="org_7"))).policies == ("org",)
    assert engine.decide(make_request(make_principal("partner"))).policies == ("tier",)
    scoped = make_principal(scope=("repo:acme/app",))
    assert engine.decide(make_request(scoped)).policies == ("scoped",)
    energy = make_principal(sector="energy")
    assert engine.decide(make_request(energy)).policies == ("sector",)
    assert engine.decide(make_request()).default_deny
