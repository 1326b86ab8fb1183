"""How much a policy decision costs on the gateway's hot path.

Run: ``.venv/bin/python benchmarks/policy.py`` (or ``make bench-policy``). Writes
benchmarks/results/policy.json and prints a table. All variants are measured in the same
run, interleaved round by round, against a trivial baseline (a dict lookup returning a
prebuilt decision), so the ratios hold on a busy machine even when absolute times drift.

Workload: the shipped policies and tier table; 1,000 keys across 200 organisations in all
four tiers, each key with 1-3 purposes and 0-5 scoped assets, three public models.

Variants:
- ``baseline``: ``dict[(tier, purpose)] -> PolicyDecision``.
- ``cedar_text``: ``cedarpy.is_authorized`` with the policy text and an entity list, as
  the naive integration would call it (parses policies and entities every call).
- ``cedar_handles``: ``is_authorized`` with a parsed PolicySet and a prebuilt Entities
  handle: the floor of one Cedar evaluation through cedarpy.
- ``decide_hit``: ``PolicyEngine.decide`` on requests seen before (decision cache hit).
- ``decide_miss``: the decision cache cleared before every call, the keys' entity handles
  cached: one Cedar evaluation through the engine.
- ``decide_cold``: both caches cleared before every call: the principal's entities are
  built too (a key not seen since the last reload).
- ``decide_stream``: a stream over the 1,000 keys with a new session id, a random model,
  purpose and risk score (0-1) on every call: what the gateway sees once safeguards score
  every request. Its cache hit rate is reported.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cedarpy
import orjson

from enclave.config import Settings
from enclave.policy import Advice, PolicyDecision, PolicyEngine, PolicyRequest
from enclave.policy.entities import (
    cedar_request,
    facts_for,
    resource_entities,
    subject_entities,
    tier_entities,
)
from enclave.policy.loader import default_directory
from enclave.registry import (
    ApiKey,
    AssetId,
    KeyId,
    KeyLimits,
    Organisation,
    OrgId,
    OrgKind,
    OrgStatus,
    Principal,
)

ROUNDS = 30
PER_ROUND = 200
RESULTS = Path(__file__).parent / "results" / "policy.json"
MODELS = ("frontier", "frontier-mini", "coder")


def principals(settings: Settings, rng: random.Random) -> list[Principal]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    tiers = list(settings.tiers)
    orgs = []
    for i in range(200):
        tier = tiers[i % len(tiers)]
        orgs.append(
            Organisation(
                id=OrgId(f"org_{i:04x}"),
                name=f"org {i}",
                kind=OrgKind(tier),
                sector="software",
                contact="",
                tier=tier,
                status=OrgStatus.APPROVED,
                created_at=now,
                updated_at=now,
                approved_at=now,
                approval_expires_at=now + timedelta(days=365),
            )
        )
    result = []
    for i in range(1000):
        org = orgs[i % len(orgs)]
        allowed = settings.tiers[org.tier].purposes
        key = ApiKey(
            id=KeyId(f"key_{i:06x}"),
            prefix=f"enc_{i:06x}",
            org_id=org.id,
            name="",
            purposes=tuple(rng.sample(allowed, k=min(len(allowed), rng.randint(1, 3)))),
            scope=tuple(AssetId(f"asset_{i}_{j}") for j in range(rng.randint(0, 5))),
            limits=KeyLimits(),
            created_at=now,
            created_by="operator:bench",
            expires_at=now + timedelta(days=90),
        )
        result.append(Principal(key=key, org=org))
    return result


def request(p: Principal, rng: random.Random, *, session: str, score: float) -> PolicyRequest:
    model = rng.choice(MODELS)
    return PolicyRequest(
        principal=p,
        action="invoke",
        model=model,
        variant=f"{model}-{p.tier}",
        purpose=rng.choice(p.key.purposes),
        session_id=session,
        context={"risk_category": "malware" if score >= 0.5 else "none", "risk_score": score},
    )


def main() -> None:
    settings = Settings()
    rng = random.Random(7)
    engine = PolicyEngine.from_settings(settings)
    people = principals(settings, rng)
    warm = [request(p, rng, session=f"s{i % 50}", score=0.0) for i, p in enumerate(people)]
    for r in warm:
        engine.decide(r)

    # The raw-cedarpy variants decide the same first request every call.
    first = warm[0]
    facts = facts_for(first, settings.tiers)
    entity_list = (
        tier_entities(settings.tiers) + subject_entities(facts.subject) + resource_entities(facts)
    )
    entity_json = orjson.dumps(entity_list).decode()
    policy_text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted(default_directory().glob("*.cedar"))
    )
    policy_set = cedarpy.PolicySet.from_str(policy_text)
    handle = cedarpy.Entities.from_json_str(entity_json)
    cedar_req = cedar_request(facts)
    table = {
        (t, p): PolicyDecision(True, Advice.ALLOW, ("invoke-entitled",))
        for t, cfg in settings.tiers.items()
        for p in cfg.purposes
    }

    counter = iter(range(10**9))
    snapshot = engine._snapshot

    def stream() -> PolicyDecision:
        n = next(counter)
        p = people[rng.randrange(len(people))]
        return engine.decide(request(p, rng, session=f"new-{n}", score=rng.random()))

    def miss() -> PolicyDecision:
        snapshot.cached.cache_clear()
        return engine.decide(warm[next(counter) % len(warm)])

    def cold() -> PolicyDecision:
        snapshot.cached.cache_clear()
        snapshot.entities.cache_clear()
        return engine.decide(warm[next(counter) % len(warm)])

    def hit() -> PolicyDecision:
        return engine.decide(warm[next(counter) % len(warm)])

    variants: dict[str, Callable[[], object]] = {
        "baseline": lambda: table[(first.principal.tier, first.purpose)],
        "cedar_text": lambda: cedarpy.is_authorized(cedar_req, policy_text, entity_json),
        "cedar_handles": lambda: cedarpy.is_authorized(cedar_req, policy_set, handle),
        "decide_hit": hit,
        "decide_miss": miss,
        "decide_cold": cold,
        "decide_stream": stream,
    }
    # Every variant must decide, not just return: sanity-check them once.
    assert cedarpy.is_authorized(cedar_req, policy_set, handle).allowed
    assert engine.decide(first).allowed

    samples: dict[str, list[int]] = {name: [] for name in variants}
    hits = misses = 0
    for _ in range(ROUNDS):
        for name, fn in variants.items():
            # Undo the previous round's clears so that each variant measures its case.
            for r in warm:
                engine.decide(r)
            before = snapshot.cached.cache_info()
            timings = samples[name]
            for _ in range(PER_ROUND):
                start = time.perf_counter_ns()
                fn()
                timings.append(time.perf_counter_ns() - start)
            if name == "decide_stream":
                after = snapshot.cached.cache_info()
                hits += after.hits - before.hits
                misses += after.misses - before.misses

    base = statistics.median(samples["baseline"])
    results = {}
    for name, timings in samples.items():
        timings.sort()
        median = statistics.median(timings)
        results[name] = {
            "median_us": round(median / 1000, 2),
            "p99_us": round(timings[int(len(timings) * 0.99)] / 1000, 2),
            "ratio_to_baseline": round(median / base, 1),
            "calls": len(timings),
        }
    report = {
        "benchmark": "policy",
        "at": datetime.now(UTC).isoformat(),
        "python": sys.version.split()[0],
        "cedarpy": "4.12.2",
        "machine": platform.machine(),
        "workload": {"keys": len(people), "organisations": 200, "tiers": len(settings.tiers)},
        "results": results,
        "decide_stream_cache_hit_rate": round(hits / max(1, hits + misses), 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{'variant':<20} {'median us':>10} {'p99 us':>10} {'x baseline':>11}")
    for name, row in results.items():
        print(
            f"{name:<20} {row['median_us']:>10.2f} {row['p99_us']:>10.2f} "
            f"{row['ratio_to_baseline']:>11.1f}"
        )
    print(f"decide_stream decision cache hit rate: {report['decide_stream_cache_hit_rate']}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
