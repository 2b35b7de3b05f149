"""Coordinate search of positive hyper-parameters on a log scale, maximising a validation score.

Used where a model is cheap to fit and has a few scale-like knobs (EASE's λ, iALS's
regularisation and α): the optimum moves with the data's size and density, so a fixed grid
either wastes fits or misses it, while walking by ×2 from a data-derived start finds it in a
handful of fits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
Point = dict[str, float]


@dataclass
class SearchResult(Generic[T]):
    point: Point
    score: float
    payload: T  # what the fit of the best point returned (the model)
    trials: list[tuple[Point, float]] = field(default_factory=list)


def log_search(
    fit: Callable[[Point], tuple[float, T]],
    start: Point,
    *,
    factor: float = 2.0,
    refinements: int = 1,
    max_trials: int = 12,
    deadline: float | None = None,
) -> SearchResult[T]:
    """From `start`, move one parameter at a time by ×`factor` or ÷`factor` while the score
    strictly improves, then again with √`factor` (`refinements` times). No point is fitted
    twice; no fit starts once `max_trials` fits are done, nor one that would end after `deadline`
    (a perf_counter value) if it lasted as long as the one before."""
    names = sorted(start)
    scores: dict[tuple[float, ...], float] = {}

    def key(point: Point) -> tuple[float, ...]:
        return tuple(round(math.log(point[n]), 6) for n in names)

    tick = time.perf_counter()
    first_score, first_payload = fit(dict(start))
    last_seconds = time.perf_counter() - tick
    scores[key(start)] = first_score
    result = SearchResult(dict(start), first_score, first_payload, [(dict(start), first_score)])

    def try_point(point: Point) -> bool:
        """Fits `point` unless seen or out of budget; True when it became the best."""
        nonlocal last_seconds
        if key(point) in scores:
            return False
        out_of_time = deadline is not None and time.perf_counter() + last_seconds > deadline
        if len(scores) >= max_trials or out_of_time:
            return False
        tick = time.perf_counter()
        score, payload = fit(point)
        last_seconds = time.perf_counter() - tick
        scores[key(point)] = score
        result.trials.append((point, score))
        if score > result.score:
            result.point, result.score, result.payload = point, score, payload
            return True
        return False

    step = factor
    for _ in range(refinements + 1):
        moved = True
        while moved:
            moved = False
            for name in names:
                for direction in (step, 1 / step):
                    while try_point({**result.point, name: result.point[name] * direction}):
                        moved = True
        step = math.sqrt(step)
    return result
