"""The allocation aid: the OpenSSF Criticality Score, need, an exact split, confirmation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from ledger_support import M

from enclave.ledger import LedgerInputError, parse_assets
from enclave.ledger.allocation import SIGNALS, AssetSignals, combined, criticality, propose
from enclave.registry import Organisation, OrgId, OrgKind, OrgStatus, RoleDenied

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TOTAL_WEIGHT = 8.5  # the original sums the signed weights: 1-1+2+1+1+.5+.5+.5+1+2


def test_criticality_follows_the_published_formula():
    assert criticality({}) == 0.0
    # One signal at its threshold contributes weight * log(1+T)/log(1+T) = weight.
    assert criticality({"contributor_count": 5000}) == pytest.approx(2 / TOTAL_WEIGHT)
    assert criticality({"contributor_count": 10**7}) == pytest.approx(2 / TOTAL_WEIGHT)
    # Below the threshold the signal is log-scaled.
    expected = 2 * math.log1p(50) / math.log1p(5000) / TOTAL_WEIGHT
    assert criticality({"contributor_count": 50}) == pytest.approx(expected)
    # Long unmaintained lowers the score; alone it would be negative and is clamped.
    assert criticality({"updated_since": 120}) == 0.0
    at_threshold = {s.name: s.threshold for s in SIGNALS}
    assert criticality({**at_threshold, "updated_since": 0}) == 1.0  # 9.5/8.5, clamped
    assert criticality(at_threshold) == pytest.approx(1.0)  # (9.5 - 1) / 8.5
    no_contributors = {**at_threshold, "contributor_count": 0}
    assert criticality(no_contributors) == pytest.approx(6.5 / TOTAL_WEIGHT)


def test_an_organisation_combines_its_assets():
    assert combined([0.5, 0.5]) == pytest.approx(0.75)
    assert combined([0.9]) == pytest.approx(0.9)
    assert combined([]) == 0.0


def _org(name: str, kind: OrgKind = OrgKind.MAINTAINER) -> Organisation:
    return Organisation(
        id=OrgId(f"org_{name}"),
        name=name,
        kind=kind,
        sector="",
        contact="",
        tier=kind.value,
        status=OrgStatus.APPROVED,
        created_at=NOW,
        updated_at=NOW,
        approved_at=NOW,
        approval_expires_at=NOW + timedelta(days=365),
    )


ORGS = [_org("curl"), _org("zlib"), _org("leftpad"), _org("bigco", OrgKind.PARTNER)]
CRITICAL = {"contributor_count": 900, "dependents_count": 400_000, "created_since": 200}
MIDDLE = {"contributor_count": 40, "dependents_count": 5_000, "created_since": 60}
TRIVIAL = {"contributor_count": 1, "created_since": 2, "updated_since": 1}


def _assets() -> list[AssetSignals]:
    return [
        AssetSignals("curl", "https://github.com/curl/curl", CRITICAL),
        AssetSignals("zlib", "https://github.com/madler/zlib", MIDDLE),
        AssetSignals("leftpad", "pkg:npm/left-pad", TRIVIAL),
        AssetSignals("bigco", "https://github.com/bigco/x", CRITICAL),
    ]


def test_proposal_ranks_by_criticality_and_splits_the_budget_exactly():
    p = propose(_assets(), ORGS, {}, pool="oss", budget=1000 * M + 7, now=NOW)
    assert [c.org_name for c in p.candidates] == ["curl", "zlib", "leftpad"]
    assert sum(c.amount for c in p.candidates) == 1000 * M + 7  # to the micro-credit
    assert p.candidates[0].amount > p.candidates[1].amount > p.candidates[2].amount
    assert ("bigco", "kind partner, not maintainer") in p.excluded
    assert p.unallocated == 0


def test_what_an_organisation_already_receives_lowers_its_share():
    fresh = propose(_assets(), ORGS, {}, pool="oss", budget=900 * M, now=NOW)
    funded = propose(_assets(), ORGS, {"org_curl": 300 * M}, pool="oss", budget=900 * M, now=NOW)
    curl = next(c for c in funded.candidates if c.org_name == "curl")
    # 300 received is one fair share (900/3): its weight halves.
    assert curl.weight == pytest.approx(fresh.candidates[0].weight / 2, rel=1e-5)
    assert curl.amount < fresh.candidates[0].amount


def test_cap_and_floor():
    capped = propose(_assets(), ORGS, {}, pool="oss", budget=1000, now=NOW, max_share_percent=40)
    assert max(c.amount for c in capped.candidates) == 400
    assert sum(c.amount for c in capped.candidates) == 1000
    floored = propose(_assets(), ORGS, {}, pool="oss", budget=1000, now=NOW, min_score=0.3)
    assert [c.org_name for c in floored.candidates] == ["curl", "zlib"]
    assert any(name == "leftpad" and "below" in why for name, why in floored.excluded)
    alone = [AssetSignals("curl", "x", CRITICAL)]
    one = propose(alone, ORGS, {}, pool="oss", budget=1000, now=NOW, max_share_percent=25)
    assert one.candidates[0].amount == 250 and one.unallocated == 750


def test_unknown_organisations_in_the_input_are_an_error():
    with pytest.raises(LedgerInputError, match="unknown organisation.*ghost"):
        propose([AssetSignals("ghost", "x", {})], ORGS, {}, pool="oss", budget=1, now=NOW)


def test_parse_csv_and_json():
    csv_text = "org,asset,contributor_count,dependents_count\ncurl,https://c,900,400000\n"
    (a,) = parse_assets(csv_text, fmt="csv")
    assert a.org == "curl" and a.values == {"contributor_count": 900.0, "dependents_count": 4e5}
    (b,) = parse_assets(
        json.dumps([{"org": "curl", "asset": "https://c", "org_count": 3}]), fmt="json"
    )
    assert b.values == {"org_count": 3.0}


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("org,asset,stars\ncurl,x,5\n", "csv", r"CSV row 2: unknown column\(s\) \['stars'\]"),
        ("org,asset,org_count\ncurl,x,many\n", "csv", "row 2, org_count: 'many' is not a"),
        ("org,asset,org_count\ncurl,x,-3\n", "csv", ">= 0"),
        ("org,asset\n,x\n", "csv", "'org'"),
        ("org,asset\ncurl,x,extra\n", "csv", "more cells"),
        ("org,asset\n", "csv", "no assets"),
        ("", "csv", "empty"),
        ("{}", "json", "JSON list"),
        ("[{", "json", "not valid JSON"),
        ('[{"org": "curl", "asset": "x", "org_count": true}]', "json", "item 1, org_count"),
        ('[{"org": "curl", "asset": "x", "org_count": "Infinity"}]', "json", "finite"),
        ("x", "yaml", "unknown format"),
    ],
)  # fmt: skip
def test_bad_signal_files(text, fmt, message):
    with pytest.raises(LedgerInputError, match=message):
        parse_assets(text, fmt=fmt)


def test_propose_then_apply_grants_once(world, reviewers, clock):
    curl = world.approved_org("curl", reviewers)
    zlib = world.approved_org("zlib", reviewers)
    world.credits.fund(world.admin, pool="oss", amount=1000 * M, create=True)
    assets = [
        AssetSignals("curl", "https://github.com/curl/curl", CRITICAL),
        AssetSignals(zlib.id, "https://github.com/madler/zlib", MIDDLE),
    ]
    before = world.snapshot()
    proposal = world.credits.propose_allocation(world.admin, assets, pool="oss", budget=600 * M)
    assert world.snapshot() == before  # a proposal grants nothing
    granted = world.credits.apply_allocation(world.admin, proposal, expires_in=timedelta(days=365))
    assert sum(t.amount for t in granted) == 600 * M
    again = world.credits.apply_allocation(world.admin, proposal, expires_in=timedelta(days=365))
    assert again == granted  # idempotent: the grant ids derive from the proposal
    assert world.available(curl) + world.available(zlib) == 600 * M
    # The next proposal sees what they received.
    later = world.credits.propose_allocation(world.admin, assets, pool="oss", budget=400 * M)
    assert all(c.received > 0 for c in later.candidates)
    reviewer = reviewers[0]
    world.credits.propose_allocation(reviewer, assets, pool="oss", budget=M)  # reading is fine
    with pytest.raises(RoleDenied, match="needs role admin"):
        world.credits.apply_allocation(reviewer, later)
