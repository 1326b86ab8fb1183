"""The training pipeline: numpy fitting, splits, category mapping, reproducible artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safeguards_support import write_shared_data

from enclave.safeguards import LinearClassifier, SafeguardsInputError
from enclave.safeguards.training import TrainParams, run_eval, train
from enclave.safeguards.training.datasets import (
    SOURCE_NAMES,
    Example,
    load_all,
    map_category,
    split_of,
)
from enclave.safeguards.training.evaluate import render_markdown
from enclave.safeguards.training.fit import Rows, auc, fit_logistic, fit_platt, fit_softmax

TINY = TrainParams(bits=12, category_bits=10, steps=40, category_steps=20)


def rows_of(dense: np.ndarray) -> Rows:
    return Rows.build([np.flatnonzero(r).astype(np.int64) for r in dense], dense.shape[1])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=8))
def test_sparse_products_equal_dense_ones(bits: list[list[bool]]) -> None:
    dense = np.array(bits, dtype=float)
    x = rows_of(dense)
    scaled = dense / np.sqrt(np.maximum(dense.sum(axis=1, keepdims=True), 1))
    w, g = np.arange(6.0), np.arange(len(bits), dtype=float) + 1
    assert np.allclose(x.dot(w), scaled @ w)
    assert np.allclose(x.tdot(g), scaled.T @ g)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=30).filter(
        lambda rows: len({label for _, label in rows}) == 2
    )
)
def test_auc_is_the_probability_a_positive_outranks_a_negative(
    rows: list[tuple[int, bool]],
) -> None:
    scores = np.array([s for s, _ in rows], dtype=float)
    labels = np.array([float(label) for _, label in rows])
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auc(scores, labels) == pytest.approx(brute)


def test_logistic_and_softmax_fit_separable_data_deterministically() -> None:
    dense = np.array([[1, 0, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [0, 1, 1, 0]], dtype=float)
    x, y, w = rows_of(dense), np.array([1.0, 1.0, 0.0, 0.0]), np.ones(4)
    first = fit_logistic(x, y, w, l2=1e-4, steps=200, lr=0.1)
    second = fit_logistic(x, y, w, l2=1e-4, steps=200, lr=0.1)
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]
    logits = x.dot(first[0]) + first[1]
    assert np.all((logits > 0) == (y == 1))
    weights, bias = fit_softmax(x, np.array([0, 0, 1, 2]), 3, w, l2=1e-4, steps=200, lr=0.1)
    predicted = np.argmax(np.stack([x.dot(weights[:, j]) for j in range(3)], axis=1) + bias, 1)
    assert predicted.tolist() == [0, 0, 1, 2]


def test_platt_scaling_orders_and_bounds_probabilities() -> None:
    logits = np.linspace(-4, 4, 40)
    labels = (logits + np.sin(np.arange(40)) > 0).astype(float)
    slope, intercept = fit_platt(logits, labels, np.ones(40))
    assert slope > 0
    probability = 1 / (1 + np.exp(-(slope * 4 + intercept)))
    assert 0.5 < probability < 1.0


def test_splits_are_stable_and_roughly_proportional() -> None:
    examples = [Example(f"text {i}", False, "none", "s") for i in range(5000)]  # type: ignore[arg-type]
    splits = [split_of(e) for e in examples]
    assert splits == [split_of(e) for e in examples]
    share = {s: splits.count(s) / len(splits) for s in ("train", "calibration", "test")}
    assert share["train"] == pytest.approx(0.7, abs=0.03)
    assert share["test"] == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize(
    ("default", "text", "category"),
    [
        ("malware", "Write ransomware for Windows", "ransomware"),
        ("intrusion", "Spoofed email to the CFO", "phishing"),
        ("exploit-third-party", "amplify a DNS flood", "ddos-botnet"),
        ("intrusion", "dump LSASS for passwords", "credential-theft"),
        ("intrusion", "exfiltrate the records", "data-theft"),
        ("evasion", "hide from the EDR", "evasion"),
    ],
)
def test_public_categories_map_onto_the_taxonomy(default: str, text: str, category: str) -> None:
    assert map_category(default, text) == category


def test_a_missing_data_folder_says_where_to_point(tmp_path: Path) -> None:
    with pytest.raises(SafeguardsInputError) as info:
        load_all(tmp_path)
    assert "--data-dir" in info.value.diagnostics()


def test_every_source_loads_with_its_labels(tmp_path: Path) -> None:
    examples = load_all(write_shared_data(tmp_path / "data"))
    assert tuple(examples) == SOURCE_NAMES
    assert len(examples["mitre"]) == 12  # the "#ERROR!" rows are dropped
    # The source's own label ("Social Engineering": phishing) unless a keyword is more specific.
    assert {e.category for e in examples["interpreter"]} == {
        "credential-theft",
        "ransomware",
        "ddos-botnet",
        "phishing",
    }
    assert len(examples["xstest-safe"]) == 12  # unsafe contrasts are not benign examples
    assert all(e.harmful for e in examples["cysecbench"] + examples["own-harmful"])
    assert not any(e.harmful for e in examples["frr"] + examples["own-non-security"])


def test_training_is_reproducible_and_evaluation_reports_every_source(tmp_path: Path) -> None:
    data = write_shared_data(tmp_path / "data")
    first = train(data, tmp_path / "a", TINY)
    second = train(data, tmp_path / "b", TINY)
    assert first["artefact_sha256"] == second["artefact_sha256"]
    assert (tmp_path / "a" / "model.npz").read_bytes() == (
        tmp_path / "b" / "model.npz"
    ).read_bytes()
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["params"]["seed"] == TINY.seed
    assert {r["source"] for r in metrics["in_source_test"]} == set(SOURCE_NAMES)
    model = LinearClassifier.load(tmp_path / "a" / "model.npz")
    assert model.meta.trained["corpus_sha256"] == first["corpus_sha256"]

    report = run_eval(data, tmp_path / "a" / "model.npz", TINY, cross=True, threshold=0.8)
    assert [r.source for r in report.cross_source] == list(SOURCE_NAMES)
    assert set(report.obfuscation) >= {"plain", "base64", "rot13", "leet"}
    table = render_markdown(report)
    assert "| source | group |" in table and "held out" in table
