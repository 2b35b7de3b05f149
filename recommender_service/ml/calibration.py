"""Platt scaling: raw scores (logits, EASE's regression values, a blend's sum) to 0–1.

`p = σ(a·s + b)`, fitted on the validation task held out of training: each user's held-out
positive against their sampled negatives, the negatives of a user weighted to count as one
positive together. So the prior is even, and the calibrated score reads as a likelihood: the
probability that a paper with this raw score is the user's next paper rather than a random one
they have not touched. 0.5 is no evidence either way; 0.9 means a score nine times likelier on
a paper the user goes on to open than on a random one. It ranks exactly as the raw score
(a > 0 on any model better than chance), and is comparable across model families and versions.

Targets are smoothed as Platt (1999) does, (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2), so that a
validation set the model separates perfectly still gives a finite slope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .evaluation import RankingTask, ScoreFn, sigmoid

NEWTON_STEPS = 50


@dataclass(frozen=True)
class Platt:
    slope: float
    intercept: float
    pairs: int = 0  # (user, item) pairs it was fitted on; 0: not fitted (an identity on logits)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated scores in [0, 1], monotone in `raw` (NaN stays NaN)."""
        z = self.slope * np.asarray(raw, np.float64) + self.intercept
        return sigmoid(z)

    def to_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "intercept": self.intercept, "pairs": float(self.pairs)}

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> Platt:
        return cls(float(d["slope"]), float(d["intercept"]), int(d.get("pairs", 0)))


def logistic_fit(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """(a, b) minimising the weighted log loss of σ(a·score + b) against `labels` (0..1
    targets): Newton's method on two parameters, with step halving (the loss is convex)."""
    x = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels, np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64).ravel()
    centre, spread = float(np.average(x, weights=w)), float(x.std()) or 1.0
    z = (x - centre) / spread  # standardised, so one tolerance suits every family's scale
    theta = np.zeros(2)

    def loss(t: np.ndarray) -> float:
        m = t[0] * z + t[1]
        return float(np.sum(w * (np.logaddexp(0.0, m) - y * m)))

    current = loss(theta)
    for _ in range(NEWTON_STEPS):
        p = sigmoid(theta[0] * z + theta[1])
        r = w * (p - y)
        grad = np.array([r @ z, r.sum()])
        h = w * p * (1 - p)
        hess = np.array([[h @ (z * z), h @ z], [h @ z, h.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        for _ in range(30):
            candidate = theta - step
            if loss(candidate) <= current:
                break
            step = step / 2
        else:
            break
        theta, previous, current = candidate, current, loss(candidate)
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    slope = theta[0] / spread
    return float(slope), float(theta[1] - slope * centre)


def fit_platt(score: ScoreFn, task: RankingTask) -> Platt:
    """Platt scaling of `score` on `task` (column 0 positive, the rest negatives, -1 pads)."""
    raw = score(task.users, task.candidates).astype(np.float64)
    valid = task.candidates >= 0
    labels = np.zeros(raw.shape)
    labels[:, 0] = 1.0
    n_neg = np.maximum(valid[:, 1:].sum(axis=1, keepdims=True), 1)
    weights = np.where(labels == 1.0, 1.0, 1.0 / n_neg)  # each user: one positive, one negative
    n_pos = float(len(raw))
    targets = np.where(labels == 1.0, (n_pos + 1) / (n_pos + 2), 1 / (n_pos + 2))
    a, b = logistic_fit(raw[valid], targets[valid], weights[valid])
    return Platt(a, b, int(valid.sum()))
