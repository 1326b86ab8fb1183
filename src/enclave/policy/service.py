"""The policy engine: Cedar policies from a directory, decisions with advice, reload.

Performance (benchmarks/policy.py, this 2-core machine): ``cedarpy.is_authorized`` with
the policy text costs about 330 us a call, nearly all of it parsing; with the policies
parsed once into a ``PolicySet`` and a pre-built ``Entities`` handle about 33 us. Adding a
key's two entities to the static tier entities (``with_added_json_str``) costs about
35 us, the model variant alone about 5 us. So the engine parses policies once per
(re)load, caches the principal's entity handle per :class:`Subject`, adds the variant per
evaluation, and caches decisions; a repeated decision costs a few microseconds.

Why the decision cache is sound. ``_Snapshot._evaluate`` is a pure function of its
``Facts`` argument and of the snapshot, which is immutable: a reload builds a new one,
with empty caches, and swaps it in with one assignment. entities.py builds the Cedar
request and entities from ``Facts`` and the tier table alone, and Cedar evaluation is
deterministic (no clock, randomness or I/O), so equal Facts give equal decisions. Before
the lookup, :meth:`_Snapshot.canonical` blanks the context attributes no loaded policy
reads and moves the risk score to the representative of its band between the policies'
decimal literals; analysis.py explains why neither can change a decision, and
tests/unit/policy/test_cache.py checks it against uncached evaluation. Key expiry,
revocation and organisation status are not policy inputs: RegistryService.authenticate
checks them on every request before the policy is asked.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import cedarpy
import orjson

from enclave.config import Settings, TierConfig
from enclave.policy.analysis import context_use
from enclave.policy.entities import (
    Facts,
    PolicyInputError,
    Subject,
    cedar_request,
    facts_for,
    resource_entities,
    subject_entities,
    tier_entities,
)
from enclave.policy.interface import (
    Advice,
    Explanation,
    PolicyDecision,
    PolicyError,
    PolicyInfo,
    PolicyRequest,
    PolicySetInfo,
    SubtractionTable,
    most_severe,
)
from enclave.policy.loader import LoadedPolicies, default_directory, load_directory, schema_text
from enclave.policy.table import compute_table

# Bounds on memory: a decision is a few hundred bytes; an entity handle about 12 KB
# (measured with ru_maxrss over 4,096 handles), so the entity cache stays under ~12 MB.
DECISION_CACHE = 8192
ENTITY_CACHE = 1024


class _Snapshot:
    """One loaded policy set with its caches; never mutated after construction."""

    def __init__(self, loaded: LoadedPolicies, base: cedarpy.Entities) -> None:
        self.loaded = loaded
        self._base = base
        self._advice = {pid: info.advice for pid, info in loaded.policies.items()}
        self._forbids = frozenset(p for p, i in loaded.policies.items() if i.effect == "forbid")
        self.use = use = context_use(loaded.ests)
        self._reads = tuple(
            use.reads_attr(a) for a in ("purpose", "session_id", "risk_category", "risk_score")
        )
        self.entities = functools.lru_cache(maxsize=ENTITY_CACHE)(self._entities)
        self.cached = functools.lru_cache(maxsize=DECISION_CACHE)(self._evaluate)

    def canonical(self, facts: Facts) -> Facts:
        """The cache key: ``facts`` without what no policy can read (module docstring)."""
        purpose, session, category, score = self._reads
        return Facts(
            facts.subject,
            facts.action,
            facts.variant,
            facts.model,
            facts.purpose if purpose else "",
            facts.session_id if session else "",
            facts.risk_category if category else "",
            self.use.score_representative(facts.risk_score) if score else "0.0000",
        )

    def evaluate(self, facts: Facts) -> PolicyDecision:
        return self.cached(self.canonical(facts))

    def _entities(self, subject: Subject) -> cedarpy.Entities:
        return self._base.with_added_json_str(orjson.dumps(subject_entities(subject)).decode())

    def _evaluate(self, facts: Facts) -> PolicyDecision:
        try:
            entities = self.entities(facts.subject).with_added_json_str(
                orjson.dumps(resource_entities(facts)).decode()
            )
        except ValueError as exc:
            return PolicyDecision(False, Advice.BLOCK, (), (f"entities rejected by Cedar: {exc}",))
        result = cedarpy.is_authorized(cedar_request(facts), self.loaded.policy_set, entities)
        reasons = tuple(sorted(result.diagnostics.reasons))
        errors = tuple(str(e) for e in result.diagnostics.errors)
        if errors:
            # Cedar skips a policy whose evaluation errors; for a forbid that would be
            # fail-open. Validation against the schema makes this rare; when it happens
            # the request is refused and the error reported (DESIGN.md: fail closed).
            forbids = tuple(p for p in reasons if p in self._forbids)
            advice = most_severe([Advice.BLOCK, *(self._advice[p] for p in forbids)], Advice.BLOCK)
            return PolicyDecision(False, advice, forbids, errors)
        default = Advice.ALLOW if result.allowed else Advice.BLOCK
        advice = most_severe([self._advice[p] for p in reasons], default)
        return PolicyDecision(result.allowed, advice, reasons)


class PolicyEngine:
    """Decides every request; thread-safe. Build it with :meth:`load` or
    :meth:`from_settings`; :meth:`reload` swaps in new policies atomically."""

    def __init__(self, directory: Path, tiers: Mapping[str, TierConfig]) -> None:
        self._directory = directory
        self._tiers = dict(tiers)
        self._schema = cedarpy.Schema.from_str(schema_text())
        self._base = cedarpy.Entities.from_json_str(
            orjson.dumps(tier_entities(self._tiers)).decode(), self._schema
        )
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(load_directory(directory, self._schema), self._base)

    @classmethod
    def load(
        cls, directory: Path | None = None, *, tiers: Mapping[str, TierConfig]
    ) -> PolicyEngine:
        """Validate every ``*.cedar`` file in ``directory`` (default: the shipped
        policies) against the schema; raise PolicyError naming file, line and problem.
        ``tiers`` is Settings.tiers: the Tier entities carry its purposes and models."""
        try:
            return cls(directory or default_directory(), tiers)
        except ValueError as exc:  # the tier table does not fit the schema
            raise PolicyError(f"tier table rejected by the policy schema: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyEngine:
        return cls.load(settings.policy_dir, tiers=settings.tiers)

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def tiers(self) -> Mapping[str, TierConfig]:
        return self._tiers

    @property
    def info(self) -> PolicySetInfo:
        return self._snapshot.loaded.info

    @property
    def policies(self) -> Mapping[str, PolicyInfo]:
        return self._snapshot.loaded.policies

    def facts(self, request: PolicyRequest) -> Facts:
        return facts_for(request, self._tiers)

    def decide(self, request: PolicyRequest) -> PolicyDecision:
        """Never raises for a bad request: what cannot be evaluated is denied (fail
        closed) with the reason in ``errors``."""
        snapshot = self._snapshot
        try:
            facts = facts_for(request, self._tiers)
        except PolicyInputError as exc:
            return PolicyDecision(False, Advice.BLOCK, (), (exc.message,))
        return snapshot.evaluate(facts)

    def decide_facts(self, facts: Facts) -> PolicyDecision:
        return self._snapshot.evaluate(facts)

    def explain(self, request: PolicyRequest) -> Explanation:
        snapshot = self._snapshot
        decision = self.decide(request)
        return Explanation(
            decision=decision,
            determining=tuple(snapshot.loaded.policies[p] for p in decision.policies),
            policy_set=snapshot.loaded.info,
            key_id=request.principal.key.id,
            org_id=request.principal.org.id,
            tier=request.principal.tier,
            action=request.action,
            model=request.model,
            variant=request.variant,
            purpose=request.purpose,
            session_id=request.session_id,
            context=dict(request.context),
        )

    def reload(self) -> list[str]:
        """Re-read and re-validate the directory; on success the new policies are in
        force for the next decision and their ids are returned. On error the policies
        in force stay and PolicyError says what is wrong."""
        with self._lock:
            old = self._snapshot.loaded.info
            try:
                loaded = load_directory(self._directory, self._schema)
            except PolicyError as exc:
                kept = f"the {len(old.policies)} policies in force ({old.digest}) stay"
                raise PolicyError(
                    exc.problem,
                    file=exc.file,
                    line=exc.line,
                    hint=f"{exc.hint}; {kept}" if exc.hint else kept,
                ) from None
            self._snapshot = _Snapshot(loaded, self._base)
            return list(loaded.info.policies)

    def subtraction_table(
        self,
        *,
        categories: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
    ) -> SubtractionTable:
        """Per tier: which risk categories and actions the loaded policies block, flag
        or allow, by evaluating them (see table.py)."""
        snapshot = self._snapshot
        return compute_table(
            snapshot.evaluate,
            snapshot.loaded,
            self._tiers,
            categories=categories,
            actions=actions,
        )


__all__ = ["DECISION_CACHE", "ENTITY_CACHE", "PolicyEngine"]
