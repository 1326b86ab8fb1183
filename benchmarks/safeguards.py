"""Safeguards fast path: cost per prompt on one core, against baselines in the same run.

Run: ``.venv/bin/python benchmarks/safeguards.py`` (or ``make bench-safeguards``); options:
``--data-dir`` (default ../shared/data; without it only our labelled set is used),
``--prompts N`` (default 3000), ``--rounds R`` (default 3). Writes
benchmarks/results/safeguards.json and prints a table.

Variants, timed interleaved per prompt (so that drift from the shared machine hits all
alike), single thread:

1. ``noop``: a Python call that returns its argument; the floor of the timer and loop.
2. ``normalise``: the normaliser alone (NFKC, invisible characters, confusables, decoders).
3. ``features``: normaliser and hashed n-gram features.
4. ``classify``: ``Safeguards.classify_text``: all of the above, both heads, calibration.
5. ``request``: ``Safeguards.classify_request`` on a three-turn OpenAI body (latest turn
   and the window: two scorings).

Plus ``cli_10k``: wall time of ``enclave safeguards classify --tier public`` on 10,000
JSON lines, process start included (the issue's "10,000 lines in a few seconds").

Budget (DESIGN.md): safeguards fast path <= 0.5 ms p50 per prompt on one core.
"""

from __future__ import annotations

import os

# One core: keep numpy's BLAS (unused by the fast path, but imported) to one thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from enclave.safeguards import Safeguards, SafeguardsConfig, normalise
from enclave.safeguards.training.datasets import load_all, load_own

RESULTS = Path(__file__).parent / "results" / "safeguards.json"
BUDGET_US = 500.0


def prompts(data_dir: Path, count: int, seed: int) -> list[str]:
    texts = [e.text for e in load_own()]
    if data_dir.exists():
        for rows in load_all(data_dir).values():
            texts.extend(e.text for e in rows)
    rng = random.Random(seed)
    return [rng.choice(texts) for _ in range(count)]


def percentiles(samples: list[float]) -> dict[str, float]:
    us = np.array(samples) * 1e6
    return {
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p90_us": round(float(np.percentile(us, 90)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "mean_us": round(float(us.mean()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    safeguards = Safeguards.load(SafeguardsConfig())
    featuriser = safeguards.classifier.featuriser
    texts = prompts(args.data_dir, args.prompts, seed=7)

    def noop(text: str) -> object:
        return text

    def features(text: str) -> object:
        return featuriser.indices(normalise(text).text)

    def request(text: str) -> object:
        body = {
            "messages": [
                {"role": "user", "content": "I am working on a project for my team."},
                {"role": "assistant", "content": "Sure, what do you need?"},
                {"role": "user", "content": text},
            ]
        }
        return safeguards.classify_request(body, "openai")

    variants: dict[str, Callable[[str], object]] = {
        "noop": noop,
        "normalise": normalise,
        "features": features,
        "classify": safeguards.classify_text,
        "request": request,
    }
    for text in texts[:200]:  # warm caches and the allocator
        for fn in variants.values():
            fn(text)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    clock = time.perf_counter
    for _ in range(args.rounds):
        for text in texts:
            for name, fn in variants.items():
                start = clock()
                fn(text)
                samples[name].append(clock() - start)

    results: dict[str, Any] = {name: percentiles(s) for name, s in samples.items()}
    classify_p50 = results["classify"]["p50_us"]
    summary = {
        "budget_p50_us": BUDGET_US,
        "classify_p50_within_budget": classify_p50 <= BUDGET_US,
        "classify_over_normalise_p50": round(classify_p50 / results["normalise"]["p50_us"], 2),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "median_chars": float(np.median([len(t) for t in texts])),
    }

    lines = "".join(
        json.dumps({"id": i, "text": texts[i % len(texts)]}) + "\n" for i in range(10_000)
    )
    enclave = Path(sys.executable).with_name("enclave")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    start = clock()
    done = subprocess.run(
        [str(enclave), "safeguards", "classify", "--tier", "public"],
        input=lines.encode(),
        capture_output=True,
        env=env,
        check=True,
    )
    cli_seconds = clock() - start
    assert done.stdout.count(b"\n") == 10_000
    results["cli_10k"] = {"seconds": round(cli_seconds, 2)}

    report = {
        "benchmark": "safeguards",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "prompts": len(texts),
        "rounds": args.rounds,
        "results": results,
        "summary": summary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{'variant':<10} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8}")
    for name in variants:
        r = results[name]
        print(f"{name:<10} {r['p50_us']:>8} {r['p90_us']:>8} {r['p99_us']:>8}")
    print(f"cli 10k lines: {cli_seconds:.2f} s; summary: {json.dumps(summary)}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
