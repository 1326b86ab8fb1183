"""Linear models fitted with numpy alone: weighted logistic and softmax regression, Platt
scaling, ROC AUC.

Rows are sparse binary feature sets with value 1/sqrt(n) (as model.py scores them), held
as CSR arrays. The optimiser is full-batch Adam (Kingma and Ba, arXiv:1412.6980) with L2:
deterministic (no sampling), so a fixed input gives bit-identical weights; the objectives
are convex, so a fixed step count suffices and is recorded in the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from enclave.safeguards.features import IndexArray

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Rows:
    """A CSR matrix with one value per row (1/sqrt(row length))."""

    indptr: Ints
    indices: Ints
    values: Floats  # per non-zero
    dim: int

    @classmethod
    def build(cls, rows: Sequence[IndexArray], dim: int) -> Rows:
        lengths = np.array([r.shape[0] for r in rows], dtype=np.int64)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        scale = 1.0 / np.sqrt(np.maximum(lengths, 1))
        return cls(indptr, indices, np.repeat(scale, lengths), dim)

    @property
    def n(self) -> int:
        return int(self.indptr.shape[0]) - 1

    def shifted(self, shift: int) -> Rows:
        """The same rows in a coarser hash space (bucket >> shift)."""
        return Rows(self.indptr, self.indices >> shift, self.values, self.dim >> shift)

    def dot(self, w: Floats) -> Floats:
        """X @ w for a weight vector."""
        # A trailing 0 keeps every row start a valid index (empty rows at the end start at
        # len(prods)); reduceat returns the element at an empty row's start, so those are
        # zeroed after.
        prods = np.append(w[self.indices] * self.values, 0.0)
        sums: Floats = np.add.reduceat(prods, self.indptr[:-1])
        sums[self.indptr[1:] == self.indptr[:-1]] = 0.0
        return sums

    def tdot(self, g: Floats) -> Floats:
        """X.T @ g for a per-row vector."""
        lengths = np.diff(self.indptr)
        out: Floats = np.bincount(
            self.indices, weights=self.values * np.repeat(g, lengths), minlength=self.dim
        ).astype(np.float64)
        return out


def _adam(
    grad_fn: object, shapes: Sequence[tuple[int, ...]], steps: int, lr: float
) -> list[Floats]:
    params = [np.zeros(s) for s in shapes]
    m = [np.zeros(s) for s in shapes]
    v = [np.zeros(s) for s in shapes]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        grads = grad_fn(params)  # type: ignore[operator]
        for p, mm, vv, g in zip(params, m, v, grads, strict=True):
            mm *= b1
            mm += (1 - b1) * g
            vv *= b2
            vv += (1 - b2) * g * g
            p -= lr * (mm / (1 - b1**t)) / (np.sqrt(vv / (1 - b2**t)) + eps)
    return params


def _sigmoid(z: Floats) -> Floats:
    out: Floats = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def fit_logistic(
    x: Rows, y: Floats, weights: Floats, *, l2: float, steps: int, lr: float
) -> tuple[Floats, float]:
    """Weighted L2-regularised logistic regression; returns (weights, bias)."""
    total = weights.sum()

    def grads(params: list[Floats]) -> list[Floats]:
        w, b = params
        p = _sigmoid(x.dot(w) + b[0])
        r = weights * (p - y) / total
        return [x.tdot(r) + l2 * w, np.array([r.sum()])]

    w, b = _adam(grads, [(x.dim,), (1,)], steps, lr)
    return w, float(b[0])


def fit_softmax(
    x: Rows, labels: Ints, k: int, weights: Floats, *, l2: float, steps: int, lr: float
) -> tuple[Floats, Floats]:
    """Weighted L2-regularised multinomial regression; returns (W of (dim, k), bias)."""
    total = weights.sum()
    onehot = np.eye(k)[labels]
    lengths = np.diff(x.indptr)

    def grads(params: list[Floats]) -> list[Floats]:
        w, b = params
        logits = np.stack([x.dot(w[:, j]) for j in range(k)], axis=1) + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        r = weights[:, None] * (p - onehot) / total
        scaled = x.values
        gw = np.stack(
            [
                np.bincount(
                    x.indices, weights=scaled * np.repeat(r[:, j], lengths), minlength=x.dim
                )
                for j in range(k)
            ],
            axis=1,
        )
        return [gw + l2 * w, r.sum(axis=0)]

    w, b = _adam(grads, [(x.dim, k), (k,)], steps, lr)
    return w, b


def fit_platt(logits: Floats, y: Floats, weights: Floats) -> tuple[float, float]:
    """Platt scaling (Platt 1999) by Newton's method on (slope, intercept), with Platt's
    target smoothing so that separable calibration data does not drive the slope to
    infinity."""
    pos, neg = weights[y == 1].sum(), weights[y == 0].sum()
    target = np.where(y == 1, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, c = 1.0, 0.0
    for _ in range(100):
        p = _sigmoid(a * logits + c)
        g = weights * (p - target)
        h = weights * np.maximum(p * (1 - p), 1e-12)
        grad = np.array([(g * logits).sum(), g.sum()])
        hess = np.array(
            [[(h * logits * logits).sum(), (h * logits).sum()], [(h * logits).sum(), h.sum()]]
        )
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        a, c = a - float(step[0]), c - float(step[1])
        if np.abs(step).max() < 1e-10:
            break
    return a, c


def auc(scores: Floats, labels: Floats) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney U) formula, ties counted half."""
    pos, neg = int((labels == 1).sum()), int((labels == 0).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


__all__ = ["Rows", "auc", "fit_logistic", "fit_platt", "fit_softmax"]
