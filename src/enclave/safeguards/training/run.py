"""Entry points of the CLI's `train` and `eval`: load, fit, write, report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any

from enclave.safeguards.config import PUBLIC_BLOCK_AT
from enclave.safeguards.features import FeatureSpec
from enclave.safeguards.model import LinearClassifier
from enclave.safeguards.training.evaluate import EvalReport, evaluate, in_source
from enclave.safeguards.training.pipeline import Corpus, TrainParams, fit_model

Progress = Callable[[str], None]


def package_data_dir() -> Path:
    return Path(str(files("enclave.safeguards") / "data"))


def _quiet(_: str) -> None:
    return None


def train(
    data_dir: Path, out_dir: Path, params: TrainParams, *, progress: Progress = _quiet
) -> dict[str, Any]:
    """Fit on every source's train split; write model.npz and metrics.json to out_dir."""
    progress(f"loading and featurising sources from {data_dir}")
    corpus = Corpus.load(data_dir, FeatureSpec(bits=params.bits))
    progress("fitting harm and category heads")
    result = fit_model(corpus, params)
    model_path = out_dir / "model.npz"
    digest = result.model.save(model_path)
    progress(f"wrote {model_path}")
    metrics: dict[str, Any] = {
        "artefact": model_path.name,
        "artefact_sha256": digest,
        "artefact_bytes": model_path.stat().st_size,
        "corpus_sha256": corpus.digest,
        "params": asdict(params),
        "rows": {
            name: {"all": len(rows), "train": sum(1 for s in corpus.splits[name] if s == "train")}
            for name, rows in corpus.examples.items()
        },
        "train_rows_used": result.train_rows,
        "calibration_rows": result.calibration_rows,
        "calibration": {"slope": result.model.meta.slope, "intercept": result.model.meta.intercept},
        "threshold": PUBLIC_BLOCK_AT,
        "in_source_test": [asdict(r) for r in in_source(corpus, result.model, PUBLIC_BLOCK_AT)],
    }
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    progress(f"wrote {metrics_path}")
    return metrics


def run_eval(
    data_dir: Path,
    model_path: Path | None,
    params: TrainParams,
    *,
    cross: bool,
    threshold: float = PUBLIC_BLOCK_AT,
    progress: Progress = _quiet,
) -> EvalReport:
    model = LinearClassifier.load(model_path)
    progress(f"loading and featurising sources from {data_dir}")
    corpus = Corpus.load(data_dir, model.meta.spec)
    return evaluate(corpus, model, params, threshold=threshold, cross=cross, progress=progress)


__all__ = ["package_data_dir", "run_eval", "train"]
