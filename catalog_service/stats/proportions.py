"""Two proportions compared: the difference and its confidence interval (Wald, normal
approximation), as A/B reports give it for click-through."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Difference:
    estimate: float  # p_b - p_a
    low: float
    high: float
    confidence: float


def difference(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, confidence: float = 0.95
) -> Difference | None:
    """p_b - p_a with its two-sided interval; None while either side has no trial."""
    if n_a <= 0 or n_b <= 0:
        return None
    p_a, p_b = successes_a / n_a, successes_b / n_b
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    estimate = p_b - p_a
    return Difference(estimate, estimate - half, estimate + half, confidence)
