"""`explain`: the decision, its advice, the determining policies with their locations."""

from __future__ import annotations

from pathlib import Path

from policy_helpers import make_principal, make_request, write

from enclave.config import TierConfig
from enclave.policy import PolicyEngine


def test_explain_a_denial_names_the_policies_and_where_they_are(engine: PolicyEngine) -> None:
    request = make_request(
        make_principal("partner", ("vuln-detection",), key_id="key_9", org_id="org_9"),
        purpose="binary-testing",
        model="frontier",
        variant="frontier-full",
    )
    result = engine.explain(request)
    assert not result.decision.allowed
    assert [p.id for p in result.determining] == ["purpose-not-on-key"]
    text = result.text()
    lines = text.splitlines()
    assert lines[0] == "decision  DENY (advice: block)"
    assert lines[1] == "why       denied by purpose-not-on-key"
    forbid = engine.policies["purpose-not-on-key"]
    assert lines[2].split() == [
        "forbid",
        "purpose-not-on-key",
        "@advice(block)",
        f"access.cedar:{forbid.line}",
    ]
    assert (
        "key key_9 (org org_9, tier partner) invoke model frontier -> variant frontier-full" in text
    )
    assert "purpose binary-testing, session session-1" in text
    assert engine.info.digest in text


def test_explain_an_allowed_flagged_request(engine: PolicyEngine) -> None:
    result = engine.explain(make_request(risk_category="phishing", risk_score=0.6))
    text = result.text()
    assert text.startswith("decision  ALLOW (advice: flag)")
    assert "allowed by flag-elevated-risk, invoke-entitled" in text
    assert "risk_category=phishing, risk_score=0.6" in text
    assert {p.file for p in result.determining} == {"access.cedar", "risk.cedar"}


def test_explain_default_deny(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    write(tmp_path, "a.cedar", 'permit (principal in Tier::"partner", action, resource);\n')
    result = PolicyEngine.load(tmp_path, tiers=tiers).explain(make_request())
    assert result.determining == ()
    assert "why       denied: no policy permits this request (default deny)" in result.text()
