"""The subtraction table is computed from the loaded policies: bands per tier, category
and action, exactly at the policies' thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_helpers import write

from enclave.config import TierConfig
from enclave.policy import DEFAULT_CATEGORIES, Advice, PolicyEngine, SubtractionRow

# Named by the shipped tool_call.cedar: probed for the policies that can apply to tool calls.
MONITOR_HELD = ("sandbox-escape", "exfiltration", "public-disclosure")


def row(
    rows: tuple[SubtractionRow, ...], tier: str, category: str, action: str = "invoke"
) -> SubtractionRow:
    (found,) = [r for r in rows if (r.tier, r.category, r.action) == (tier, category, action)]
    return found


def test_shipped_policies_block_on_public_and_flag_on_vetted_tiers(engine: PolicyEngine) -> None:
    table = engine.subtraction_table()
    assert table.digest == engine.info.digest
    assert table.thresholds == ("0.5000", "0.8000")
    # The monitor's categories named by tool_call.cedar come after the model-call ones,
    # and only tool_call rows carry them.
    assert table.categories == ("none", *DEFAULT_CATEGORIES, *MONITOR_HELD)
    assert {r.action for r in table.rows} == {"invoke", "tool_call"}
    assert {r.category for r in table.rows if r.action == "invoke"} == {
        "none",
        *DEFAULT_CATEGORIES,
    }

    public = row(table.rows, "public", "malware")
    assert public.purposes == ("general",)
    assert [(b.low, b.high, b.allowed, b.advice) for b in public.bands] == [
        ("0.0000", "0.4999", True, Advice.ALLOW),
        ("0.5000", "0.7999", True, Advice.FLAG),
        ("0.8000", "1.0000", False, Advice.BLOCK),
    ]
    assert public.bands[2].policies == ("public-block-high-risk",)
    assert public.summary == "allow; flag >= 0.5000; block >= 0.8000"

    for tier in ("maintainer", "partner", "operator"):
        vetted = row(table.rows, tier, "ransomware")
        assert vetted.summary == "allow; flag >= 0.5000"
        assert set(vetted.purposes) == set(engine.tiers[tier].purposes)

    assert row(table.rows, "public", "none").summary == "allow"

    # What `enclave safeguards classify --tier` needs: the outcome at one score.
    assert table.band("public", "phishing", "0.7999").advice is Advice.FLAG
    assert table.band("public", "phishing", "0.8000").advice is Advice.BLOCK
    assert table.band("partner", "phishing", "1.0000", purpose="general").advice is Advice.FLAG
    assert table.band("partner", "none", "0.0000").advice is Advice.ALLOW


def test_band_of_an_unknown_row(engine: PolicyEngine) -> None:
    table = engine.subtraction_table(categories=["phishing"])
    with pytest.raises(LookupError, match="tier 'research'"):
        table.band("research", "phishing", "0.5000")
    with pytest.raises(LookupError):
        table.band("public", "phishing", "0.5000", purpose="penetration-testing")
    with pytest.raises(LookupError):
        table.band("public", "malware", "0.5000")


def test_a_tier_without_the_model_is_blocked_everywhere(tiers: dict[str, TierConfig]) -> None:
    tiers["public"] = tiers["public"].model_copy(update={"models": ()})
    table = PolicyEngine.load(tiers=tiers).subtraction_table(categories=["phishing"])
    assert table.categories == ("none", "phishing", *MONITOR_HELD)
    for category in ("none", "phishing"):
        public = row(table.rows, "public", category)
        assert public.summary == "block"
        assert "model-not-allowed-for-tier" in public.bands[0].policies


def test_categories_and_thresholds_the_policies_name_are_probed(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    write(
        policy_dir,
        "zz-ransomware.cedar",
        '@id("partner-hold-ransomware") @advice("hold")\n'
        'forbid (principal in Tier::"partner", action, resource) when {\n'
        '  context.risk_category == "ransomware-builder" &&\n'
        '  context.risk_score.greaterThan(decimal("0.9")) };\n',
    )
    table = PolicyEngine.load(policy_dir, tiers=tiers).subtraction_table(categories=["malware"])
    assert table.categories == ("none", "malware", "ransomware-builder", *MONITOR_HELD)
    assert table.thresholds == ("0.5000", "0.8000", "0.9000")
    partner = row(table.rows, "partner", "ransomware-builder")
    # greaterThan: 0.9000 itself is still flagged, 0.9001 is held.
    assert partner.summary == "allow; flag >= 0.5000; hold >= 0.9001"
    assert partner.bands[-1].allowed is False
    assert row(table.rows, "partner", "malware").summary == "allow; flag >= 0.5000"


def test_purposes_with_different_outcomes_get_their_own_rows(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    write(
        policy_dir,
        "zz-pentest.cedar",
        '@id("pentest-block-malware")\n'
        "forbid (principal, action, resource) when {\n"
        '  context.purpose == Purpose::"penetration-testing" &&\n'
        '  context.risk_category == "malware" };\n',
    )
    table = PolicyEngine.load(policy_dir, tiers=tiers).subtraction_table(categories=["malware"])
    partner = [
        r for r in table.rows if (r.tier, r.category, r.action) == ("partner", "malware", "invoke")
    ]
    assert {(r.purposes, r.summary) for r in partner} == {
        (("penetration-testing",), "block"),
        (
            ("vuln-detection", "binary-testing", "endpoint-security", "remediation", "general"),
            "allow; flag >= 0.5000",
        ),
    }


def test_actions_a_permit_grants_are_included(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    (policy_dir / "tool_call.cedar").unlink()  # the shipped tool_call permits
    write(
        policy_dir,
        "zz-tools.cedar",
        '@id("tools")\n'
        'permit (principal in Tier::"partner", action == Action::"tool_call", resource);\n',
    )
    table = PolicyEngine.load(policy_dir, tiers=tiers).subtraction_table(categories=[])
    assert table.categories == ("none",)
    tools = [r for r in table.rows if r.action == "tool_call"]
    assert {r.tier: r.summary for r in tools} == {
        "public": "block",
        "maintainer": "block",
        "partner": "allow",
        "operator": "block",
    }
