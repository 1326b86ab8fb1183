"""The safeguards service: verdicts for texts and request bodies, optional escalation to a
judge, and the interim advice table.

The gateway calls :meth:`Safeguards.assess_request` once per request (before policy); the CLI
calls :meth:`Safeguards.classify_text` per line. Advice normally comes from the Cedar policies
(``enclave.policy``) with :meth:`Verdict.cedar_context` in the request context;
:class:`ThresholdAdvice` is the table from configuration that stands in for them where no
policy engine is wired (and documents what the shipped policies are meant to decide).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from enclave.safeguards.config import SafeguardsConfig
from enclave.safeguards.conversation import ConversationText, conversation_text
from enclave.safeguards.interface import (
    NONE,
    Advice,
    ApiShape,
    Judge,
    JudgeRequest,
    JudgeUnavailable,
    SafeguardsConfigError,
    SafeguardsInputError,
    Verdict,
)
from enclave.safeguards.judge import HttpJudge
from enclave.safeguards.model import LinearClassifier
from enclave.safeguards.taxonomy import Taxonomy, load_taxonomy


class AdviceSource(Protocol):
    """Turns a verdict into advice for a tier (the policy engine, or the table below)."""

    def advise(self, verdict: Verdict, tier: str) -> Advice: ...


class ThresholdAdvice:
    """The threshold table of ``safeguards.thresholds``: block high-risk categories at
    ``block_at``, flag any category at ``flag_at``. A tier without a row is a
    configuration error, raised when the table is built (fail closed, at start)."""

    def __init__(self, config: SafeguardsConfig, taxonomy: Taxonomy, tiers: Iterable[str]) -> None:
        missing = sorted(set(tiers) - set(config.thresholds))
        if missing:
            raise SafeguardsConfigError(
                f"safeguards.thresholds has no row for tier(s) {missing}",
                hint="add [safeguards.thresholds.TIER] with block_at and/or flag_at",
            )
        self._rows = dict(config.thresholds)
        self._taxonomy = taxonomy

    def advise(self, verdict: Verdict, tier: str) -> Advice:
        row = self._rows.get(tier)
        if row is None:
            raise SafeguardsInputError(
                f"unknown tier {tier!r}", hint=f"tiers with thresholds: {', '.join(self._rows)}"
            )
        if verdict.category == NONE:
            return "allow"
        over_block = row.block_at is not None and verdict.score >= row.block_at
        if over_block and self._taxonomy.high_risk(verdict.category):
            return "block"
        if over_block or (row.flag_at is not None and verdict.score >= row.flag_at):
            return "flag"
        return "allow"


class Safeguards:
    def __init__(
        self,
        classifier: LinearClassifier,
        taxonomy: Taxonomy,
        config: SafeguardsConfig,
        *,
        judge: Judge | None = None,
    ) -> None:
        taxonomy.require(classifier.meta.categories, source="the model")
        if config.judge.enabled and config.judge.band_low < config.category_floor:
            # A verdict in the band must name a category, or failing closed would block
            # under `none`.
            raise SafeguardsConfigError(
                "safeguards.judge.band_low must be at least safeguards.category_floor"
            )
        self.classifier = classifier
        self.taxonomy = taxonomy
        self.config = config
        self._judge = judge if config.judge.enabled else None

    @classmethod
    def load(cls, config: SafeguardsConfig, *, judge: Judge | None = None) -> Safeguards:
        """Load the model and taxonomy named by the config (the shipped ones by default).

        With ``judge.enabled`` and no judge given, an :class:`HttpJudge` is built from the
        config (the gateway's and the CLI's case); tests pass their own."""
        classifier = LinearClassifier.load(config.model_path)
        taxonomy = load_taxonomy(config.taxonomy_path)
        if judge is None and config.judge.enabled:
            judge = HttpJudge(config.judge, taxonomy.names())
        return cls(classifier, taxonomy, config, judge=judge)

    # -- fast path (synchronous, CPU only) -----------------------------------------------

    def classify_text(self, text: str) -> Verdict:
        if not isinstance(text, str):
            raise SafeguardsInputError("text: expected a string")
        scored = self.classifier.score(text)
        category = scored.category if scored.score >= self.config.category_floor else NONE
        return Verdict(category, scored.score)

    def conversation(self, body: Mapping[str, Any], api: ApiShape) -> ConversationText:
        return conversation_text(
            body, api, turns=self.config.window_turns, max_chars=self.config.window_chars
        )

    def classify_conversation(self, convo: ConversationText) -> Verdict:
        """The higher of the latest turn's and the window's verdicts."""
        latest = self.classify_text(convo.latest)
        if not convo.window_adds:
            return latest
        window = self.classify_text(convo.window)
        return window if window.score > latest.score else latest

    def classify_request(self, body: Mapping[str, Any], api: ApiShape) -> Verdict:
        return self.classify_conversation(self.conversation(body, api))

    # -- escalation (asynchronous, optional) ---------------------------------------------

    def needs_judge(self, verdict: Verdict) -> bool:
        judge = self.config.judge
        return self._judge is not None and judge.band_low <= verdict.score < judge.band_high

    async def escalate(self, text: str, verdict: Verdict, tier: str) -> Verdict:
        """Ask the judge about an uncertain verdict; a failure fails closed on the tiers
        listed in ``judge.fail_closed_tiers`` and leaves the classifier's verdict elsewhere."""
        if self._judge is None or not self.needs_judge(verdict):
            return verdict
        request = JudgeRequest(text, verdict.category, verdict.score)
        try:
            decision = await asyncio.wait_for(
                self._judge.judge(request), timeout=self.config.judge.timeout_s
            )
        except (TimeoutError, JudgeUnavailable):
            if tier in self.config.judge.fail_closed_tiers:
                return Verdict(verdict.category, 1.0, "judge-failed-closed", verdict.score)
            return Verdict(verdict.category, verdict.score, "judge-failed-open", verdict.score)
        if not decision.harmful:
            return Verdict(NONE, 0.0, "judge", verdict.score)
        category = decision.category if decision.category in self.taxonomy else None
        return Verdict(category or verdict.category, 1.0, "judge", verdict.score)

    async def assess_request(self, body: Mapping[str, Any], api: ApiShape, tier: str) -> Verdict:
        """The gateway's entry point: classify, then escalate when configured and uncertain."""
        convo = self.conversation(body, api)
        verdict = self.classify_conversation(convo)
        if not self.needs_judge(verdict):
            return verdict
        return await self.escalate(convo.window or convo.latest, verdict, tier)

    async def aclose(self) -> None:
        if self._judge is not None:
            await self._judge.aclose()


__all__ = ["AdviceSource", "Safeguards", "ThresholdAdvice"]
