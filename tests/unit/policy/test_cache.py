"""The decision cache is sound: every input a policy can read reaches the decision, and
what the cache leaves out (unread context attributes, the score within its band) never
changes one. Uncached evaluation (`_Snapshot._evaluate` on the raw facts) is the oracle."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import make_principal, make_request, write

from enclave.config import Settings, TierConfig
from enclave.policy import PolicyEngine, PolicyRequest
from enclave.policy.analysis import context_use

# One permit per input; the base request below matches none of them.
EVERY_INPUT = """
@id("key") permit (principal == Key::"key_2", action, resource);
@id("key-purposes") permit (principal, action, resource)
  when { principal.purposes.contains(Purpose::"remediation") };
@id("key-scope") permit (principal, action, resource)
  when { principal.scope.contains(Asset::"repo:x") };
@id("org") permit (principal in Organisation::"org_2", action, resource);
@id("org-kind") permit (principal, action, resource)
  when { principal.organisation.kind == "maintainer" };
@id("org-sector") permit (principal, action, resource)
  when { principal.organisation.sector == "energy" };
@id("tier") permit (principal in Tier::"partner", action, resource);
@id("action") permit (principal, action == Action::"tool_call", resource);
@id("variant") permit (principal, action, resource is ModelVariant)
  when { resource.name == "v2" };
@id("model") permit (principal, action, resource is ModelVariant)
  when { resource.model == "m2" };
@id("purpose") permit (principal, action, resource)
  when { context.purpose == Purpose::"remediation" };
@id("session") permit (principal, action, resource) when { context.session_id == "s2" };
@id("category") permit (principal, action, resource) when { context.risk_category == "c2" };
@id("score") permit (principal, action, resource)
  when { context.risk_score.greaterThan(decimal("0.5")) };
"""

BASE = make_request(
    make_principal("public", ("general",)),
    model="m1",
    variant="v1",
    purpose="general",
    session="s1",
    risk_category="c1",
    risk_score=0.5,
)


def changed(field: str) -> PolicyRequest:
    principals = {
        "key": make_principal(key_id="key_2"),
        "key-purposes": make_principal(purposes=("general", "remediation")),
        "key-scope": make_principal(scope=("repo:x",)),
        "org": make_principal(org_id="org_2"),
        "org-kind": make_principal(kind="maintainer"),
        "org-sector": make_principal(sector="energy"),
        "tier": make_principal("partner", kind="public"),
    }
    if field in principals:
        return replace(BASE, principal=principals[field])
    context: dict[str, Any] = dict(BASE.context)
    simple = {
        "action": {"action": "tool_call"},
        "variant": {"variant": "v2"},
        "model": {"model": "m2"},
        "purpose": {"purpose": "remediation"},
        "session": {"session_id": "s2"},
    }
    if field in simple:
        return replace(BASE, **simple[field])  # type: ignore[arg-type]
    context.update({"category": {"risk_category": "c2"}, "score": {"risk_score": 0.5001}}[field])
    return replace(BASE, context=context)


FIELDS = [
    "key",
    "key-purposes",
    "key-scope",
    "org",
    "org-kind",
    "org-sector",
    "tier",
    "action",
    "variant",
    "model",
    "purpose",
    "session",
    "category",
    "score",
]


@pytest.fixture
def every_input(tmp_path: Path, tiers: dict[str, TierConfig]) -> PolicyEngine:
    write(tmp_path, "every.cedar", EVERY_INPUT)
    engine = PolicyEngine.load(tmp_path, tiers=tiers)
    assert engine.decide(BASE).default_deny
    return engine


@pytest.mark.parametrize("field", FIELDS)
def test_changing_any_input_the_policies_read_changes_the_decision(
    every_input: PolicyEngine, field: str
) -> None:
    # The base decision is cached first, so a cache that ignored `field` would return it.
    assert every_input.decide(BASE).default_deny
    decision = every_input.decide(changed(field))
    assert decision.allowed
    assert decision.policies == (field,)
    assert every_input.decide(BASE).default_deny


def test_context_attributes_no_policy_reads_are_left_out_of_the_cache_key(
    engine: PolicyEngine,
) -> None:
    snapshot = engine._snapshot
    assert not snapshot.use.reads_attr("session_id")
    first = engine.decide(make_request(session="a"))
    hits = snapshot.cached.cache_info().hits
    second = engine.decide(make_request(session="b"))
    assert second == first
    assert snapshot.cached.cache_info().hits == hits + 1


def test_scores_in_one_band_share_a_cache_entry(engine: PolicyEngine) -> None:
    snapshot = engine._snapshot
    engine.decide(make_request(risk_category="malware", risk_score=0.81))
    hits = snapshot.cached.cache_info().hits
    engine.decide(make_request(risk_category="malware", risk_score=0.97))
    assert snapshot.cached.cache_info().hits == hits + 1
    # ...while the band edge is its own entry, decided correctly.
    below = engine.decide(make_request(risk_category="malware", risk_score=0.7999))
    assert below.allowed and below.advice.value == "flag"


def test_using_the_whole_context_disables_the_reduction(tmp_path: Path) -> None:
    ests = {
        "p": {
            "effect": "permit",
            "conditions": [
                {
                    "kind": "when",
                    "body": {"==": {"left": {"Var": "context"}, "right": {"Record": {}}}},
                }
            ],
        }
    }
    use = context_use(ests)
    assert use.whole and use.reads_attr("session_id")
    assert use.score_representative("0.1234") == "0.1234"


OPS = ["lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual", "=="]
ADVICE = {"permit": ["allow", "flag", "hold"], "forbid": ["hold", "block", "terminate"]}


@st.composite
def policy_sets(draw: st.DrawFn) -> tuple[str, list[int]]:
    cuts = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=4))
    policies = []
    for i, cut in enumerate(cuts):
        effect = draw(st.sampled_from(["permit", "forbid"]))
        op = draw(st.sampled_from(OPS))
        advice = draw(st.sampled_from(ADVICE[effect]))
        literal = f'decimal("{cut / 10_000:.4f}")'
        test = (
            f"context.risk_score == {literal}"
            if op == "=="
            else f"context.risk_score.{op}({literal})"
        )
        policies.append(
            f'@id("p{i}") @advice("{advice}")\n'
            f"{effect} (principal, action, resource) when {{ {test} }};"
        )
    near = [c + d for c in cuts for d in (-1, 0, 1) if 0 <= c + d <= 10_000]
    scores = draw(st.lists(st.integers(0, 10_000), max_size=6)) + near + [0, 10_000]
    return "\n".join(policies), scores


@settings(max_examples=40, deadline=None)
@given(policy_sets())
def test_cached_decisions_equal_uncached_ones_for_any_thresholds(
    case: tuple[str, list[int]],
) -> None:
    text, scores = case
    # A fresh directory per example: hypothesis runs many examples per test call.
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), "p.cedar", text)
        engine = PolicyEngine.load(Path(tmp), tiers=Settings().tiers)
    snapshot = engine._snapshot
    for score in scores:
        request = make_request(risk_category="x", risk_score=score / 10_000)
        raw = engine.facts(request)
        assert engine.decide(request) == snapshot._evaluate(raw), (text, score)
