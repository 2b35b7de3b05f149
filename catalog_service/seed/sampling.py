"""The random draws of the demo generator, each from the caller's seeded `random.Random`."""

from __future__ import annotations

import calendar
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from catalog_service.seed.vocabulary import (
    COMMENTS_GOOD,
    COMMENTS_MIXED,
    COMMENTS_POOR,
    EXERCISES,
)
from shared.enums import Filiere

T = TypeVar("T")

# Activity over the academic year (September → June): exam sessions in December-January and
# May-June, quiet around the holidays.
MONTH_WEIGHTS: dict[int, float] = {
    9: 0.05, 10: 0.08, 11: 0.10, 12: 0.15, 1: 0.14, 2: 0.06, 3: 0.08, 4: 0.09, 5: 0.14, 6: 0.11,
}  # fmt: skip
# Students work in the day and the evening.
HOUR_WEIGHTS: dict[int, float] = {h: (0.2 if h < 8 else 1.0 if h < 19 else 1.4) for h in range(24)}


def weighted(rng: random.Random, weights: Mapping[T, float]) -> T:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def apportion(total: int, weights: Sequence[float], floors: Sequence[int]) -> list[int]:
    """Integers ≥ their floor, summing to `total`, proportional to `weights` (largest remainder)."""
    spare = total - sum(floors)
    if spare < 0:
        raise ValueError(f"{total} cannot cover the floors ({sum(floors)})")
    scale = spare / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: spare - sum(counts)]:
        counts[i] += 1
    return [c + f for c, f in zip(counts, floors, strict=True)]


def weighted_sample(
    rng: random.Random, items: Sequence[T], weights: Sequence[float], k: int
) -> list[T]:
    """k distinct items drawn with probability ∝ weight (Efraimidis-Spirakis keys)."""
    if k > len(items):
        raise ValueError(f"cannot draw {k} distinct items out of {len(items)}")
    keyed = sorted(((rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)), reverse=True)
    return [items[i] for _, i in keyed[:k]]


def academic_time(rng: random.Random, start_year: int) -> datetime:
    month = weighted(rng, MONTH_WEIGHTS)
    year = start_year if month >= 9 else start_year + 1
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    hour = weighted(rng, HOUR_WEIGHTS)
    moment = datetime(year, month, day, hour, tzinfo=UTC)
    return moment + timedelta(seconds=rng.randint(0, 3599))


def exercises(rng: random.Random, filiere: Filiere) -> tuple[str, ...]:
    return tuple(rng.sample(EXERCISES[filiere], rng.randint(3, 4)))


def comment(rng: random.Random, quality: float) -> str:
    pool: tuple[str, ...]
    if quality > 0.5:
        pool = COMMENTS_GOOD if rng.random() < 0.8 else COMMENTS_MIXED
    elif quality < -0.5:
        pool = COMMENTS_POOR if rng.random() < 0.6 else COMMENTS_MIXED
    else:
        pool = COMMENTS_MIXED if rng.random() < 0.6 else COMMENTS_GOOD
    return rng.choice(pool)
