"""`enclave safeguards eval`: per-source rates at the shipped threshold, AUC, obfuscation,
latency, and the cross-source protocol (issue 6 item 9).

* in-source: the model fitted on every source's train split, on every source's test split.
  Templates were seen in training; these numbers are an upper bound.
* cross-source: for each source S, a model fitted without S (same parameters), scored on
  all of S. The held-out rate is the figure that says anything about unseen data. AUC pairs
  S with the test splits of the opposite class's other sources: S is unseen, its
  counterparts are not, so read it as "how S ranks against familiar text of the other
  class".
* obfuscation: harmful test rows, plain and under each obfuscation, through the full path.
* latency: the full path (normalise, featurise, score) per prompt, one thread.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from enclave.safeguards.config import PUBLIC_BLOCK_AT
from enclave.safeguards.model import LinearClassifier
from enclave.safeguards.training.datasets import SOURCES, Example
from enclave.safeguards.training.fit import Floats, auc
from enclave.safeguards.training.obfuscate import OBFUSCATIONS
from enclave.safeguards.training.pipeline import Corpus, TrainParams, fit_model, scores_of

GROUP = {s.name: s.group for s in SOURCES}


@dataclass(frozen=True, slots=True)
class SourceResult:
    source: str
    group: str
    n: int
    blocked: float  # share scoring >= threshold: TPR for harmful sources, FPR otherwise
    auc: float | None


@dataclass
class EvalReport:
    threshold: float
    in_source: list[SourceResult] = field(default_factory=list)
    cross_source: list[SourceResult] = field(default_factory=list)
    category_agreement: float | None = None
    obfuscation: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_us: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _auc_or_none(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _source_result(
    name: str, scores: Floats, against: Floats, harmful: bool, threshold: float
) -> SourceResult:
    labels = np.concatenate(
        [np.full(len(scores), float(harmful)), np.full(len(against), 1.0 - harmful)]
    )
    value = auc(np.concatenate([scores, against]), labels) if len(against) else float("nan")
    blocked = float((scores >= threshold).mean()) if len(scores) else float("nan")
    return SourceResult(name, GROUP[name], len(scores), round(blocked, 4), _auc_or_none(value))


def _opposite(corpus: Corpus, model: LinearClassifier, harmful: bool, *, skip: str) -> Floats:
    parts = []
    for name, rows in corpus.examples.items():
        if name == skip or not rows or rows[0].harmful == harmful:
            continue
        feats, texts, _ = corpus.select(name, "test")
        parts.append(scores_of(model, feats, texts))
    return np.concatenate(parts) if parts else np.zeros(0)


def in_source(corpus: Corpus, model: LinearClassifier, threshold: float) -> list[SourceResult]:
    out = []
    for name, rows in corpus.examples.items():
        feats, texts, _ = corpus.select(name, "test")
        harmful = rows[0].harmful
        against = _opposite(corpus, model, harmful, skip=name)
        out.append(
            _source_result(name, scores_of(model, feats, texts), against, harmful, threshold)
        )
    return out


def cross_source(
    corpus: Corpus,
    params: TrainParams,
    threshold: float,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[SourceResult]:
    out = []
    for name, rows in corpus.examples.items():
        if progress is not None:
            progress(f"cross-source: fitting without {name}")
        fold = fit_model(corpus, params, exclude=[name], with_categories=False).model
        feats, texts, _ = corpus.select(name)
        harmful = rows[0].harmful
        against = _opposite(corpus, fold, harmful, skip=name)
        out.append(_source_result(name, scores_of(fold, feats, texts), against, harmful, threshold))
    return out


def category_agreement(corpus: Corpus, model: LinearClassifier) -> float:
    """Share of harmful test rows whose predicted category is their mapped one."""
    hits = total = 0
    for rows in corpus.examples.values():
        if not rows or not rows[0].harmful:
            continue
        feats, _, exs = corpus.select(rows[0].source, "test")
        for f, e in zip(feats, exs, strict=True):
            hits += model.category_of(f) == e.category
            total += 1
    return round(hits / total, 4) if total else float("nan")


def obfuscation(
    examples: Sequence[Example], model: LinearClassifier, threshold: float, seed: int
) -> dict[str, dict[str, float]]:
    plain = np.array([model.score(e.text).score for e in examples])
    out = {"plain": {"blocked": round(float((plain >= threshold).mean()), 4), "same_score": 1.0}}
    for name, transform in OBFUSCATIONS.items():
        rng = random.Random(f"{seed}:{name}")
        scores = np.array([model.score(transform(e.text, rng)).score for e in examples])
        out[name] = {
            "blocked": round(float((scores >= threshold).mean()), 4),
            # Identical up to float noise: the obfuscation was undone exactly.
            "same_score": round(float((np.abs(scores - plain) < 1e-6).mean()), 4),
        }
    return out


def latency(model: LinearClassifier, texts: Sequence[str]) -> dict[str, float]:
    timings = []
    for text in texts:
        start = time.perf_counter()
        model.score(text)
        timings.append(time.perf_counter() - start)
    arr = np.array(timings) * 1e6
    return {
        "n": float(len(arr)),
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p99": round(float(np.percentile(arr, 99)), 1),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
    }


def harmful_test_rows(corpus: Corpus, per_source: int, seed: int) -> list[Example]:
    rows: list[Example] = []
    for name, examples in corpus.examples.items():
        if not examples or not examples[0].harmful:
            continue
        _, _, exs = corpus.select(name, "test")
        if len(exs) > per_source:
            exs = random.Random(f"{seed}:{name}").sample(exs, per_source)
        rows.extend(exs)
    return rows


def evaluate(
    corpus: Corpus,
    model: LinearClassifier,
    params: TrainParams,
    *,
    threshold: float = PUBLIC_BLOCK_AT,
    cross: bool = True,
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    report = EvalReport(threshold=threshold, model=dict(model.meta.trained))
    report.in_source = in_source(corpus, model, threshold)
    report.category_agreement = category_agreement(corpus, model)
    sample = harmful_test_rows(corpus, per_source=300, seed=params.seed)
    if progress is not None:
        progress(f"obfuscation: {len(sample)} harmful test rows x {len(OBFUSCATIONS)}")
    report.obfuscation = obfuscation(sample, model, threshold, params.seed)
    texts = [e.text for rows in corpus.examples.values() for e in rows[:200]]
    report.latency_us = latency(model, texts)
    if cross:
        report.cross_source = cross_source(corpus, params, threshold, progress=progress)
    return report


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def render_markdown(report: EvalReport) -> str:
    """The table docs/safeguards.md carries."""
    held = {r.source: r for r in report.cross_source}
    lines = [
        f"Threshold: score >= {report.threshold} (public tier blocks).",
        "",
        "| source | group | n (test / all) | blocked, in-source | AUC, in-source "
        "| blocked, held out | AUC, held out |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.in_source:
        h = held.get(r.source)
        lines.append(
            f"| {r.source} | {r.group} | {r.n} / {h.n if h else '-'} | {_pct(r.blocked)} "
            f"| {r.auc if r.auc is not None else 'n/a'} "
            f"| {_pct(h.blocked) if h else '-'} "
            f"| {h.auc if h and h.auc is not None else '-'} |"
        )
    lines += [
        "",
        "For harmful sources `blocked` is the true-positive rate; for the others it is the "
        "false-positive rate.",
        "",
        f"Category agreement with the mapped labels (harmful test rows): "
        f"{_pct(report.category_agreement or float('nan'))}.",
        "",
        "| obfuscation | blocked | score identical to plain |",
        "| --- | --- | --- |",
    ]
    for name, row in report.obfuscation.items():
        lines.append(f"| {name} | {_pct(row['blocked'])} | {_pct(row['same_score'])} |")
    lat = report.latency_us
    if lat:
        lines += [
            "",
            f"Latency, full path per prompt (one thread, {int(lat['n'])} prompts of "
            f"{lat['mean_chars']:.0f} characters on average): p50 {lat['p50']:.0f} us, "
            f"p99 {lat['p99']:.0f} us.",
        ]
    return "\n".join(lines) + "\n"


__all__ = ["EvalReport", "SourceResult", "evaluate", "render_markdown"]
