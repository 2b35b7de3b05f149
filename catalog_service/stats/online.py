"""Online metrics of the recommendation lists shown (GET /v1/stats/recommendations): computed
here, on the catalog's own impressions and interactions (`impressions.attribution`).

Three passes over the window's lists, each with GROUPING SETS: per (source, model version,
strategy, arm, experiment) over the window, the same per UTC day, and per (experiment, arm);
the first for the counts, the second for the distinct épreuves shown (coverage), the third for
the positions of the first engagements.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.impressions.attribution import attributed
from catalog_service.impressions.models import Impression
from catalog_service.stats import proportions
from catalog_service.stats.schemas import (
    CtrDifference,
    ExperimentMetrics,
    OnlineDay,
    OnlineGroup,
    OnlineMetrics,
    RecommendationStats,
)
from shared.enums import Arm, InteractionKind

KEY = ("source", "model_version", "strategy", "arm", "experiment_id")
# `grouping(day, source, arm)`: which grouping set a row belongs to.
WINDOW, DAILY, ARMS = 0b100, 0b000, 0b110
_DIGITS = 6


def _ratio(numerator: float, denominator: int) -> float | None:
    return round(numerator / denominator, _DIGITS) if denominator else None


async def recommendation_stats(
    *, session: AsyncSession, days: int, window: timedelta, now: datetime | None = None
) -> RecommendationStats:
    until = now or datetime.now(UTC)
    since = until - timedelta(days=days)
    return await _collect(session=session, since=since, until=until, window=window)


async def experiment_metrics(
    *, session: AsyncSession, experiment_id: int, since: datetime, window: timedelta
) -> ExperimentMetrics | None:
    """One experiment's arms since it started (None before any list of it was shown)."""
    stats = await _collect(
        session=session, since=since, until=datetime.now(UTC), window=window,
        experiment_id=experiment_id,
    )  # fmt: skip
    return stats.experiments[0] if stats.experiments else None


async def _collect(
    *,
    session: AsyncSession,
    since: datetime,
    until: datetime,
    window: timedelta,
    experiment_id: int | None = None,
) -> RecommendationStats:
    lists = select(
        Impression.id, *(getattr(Impression, k) for k in KEY), Impression.item_ids,
        func.date(func.timezone("UTC", Impression.shown_at)).label("day"),
    ).where(Impression.shown_at >= since, Impression.shown_at < until)  # fmt: skip
    if experiment_id is not None:
        lists = lists.where(Impression.experiment_id == experiment_id)
    shown = lists.cte("shown")
    hits = attributed(window).subquery("hits")
    engaged = (
        select(
            hits.c.impression_id,
            array_agg(aggregate_order_by(hits.c.position, hits.c.created_at, hits.c.position))[
                1
            ].label("first_position"),
            func.bool_or(hits.c.kind == InteractionKind.DOWNLOAD.value).label("downloaded"),
        )
        .join(shown, shown.c.id == hits.c.impression_id)
        .group_by(hits.c.impression_id)
        .cte("engaged")
    )
    key = [shown.c[k] for k in KEY]
    sets = func.grouping_sets(
        tuple_(*key), tuple_(*key, shown.c.day), tuple_(shown.c.experiment_id, shown.c.arm)
    )
    level = func.grouping(shown.c.day, shown.c.source, shown.c.arm).label("level")
    counts = await session.execute(
        select(
            level, *key, shown.c.day,
            func.count().label("impressions"),
            func.count(engaged.c.impression_id).label("engaged"),
            func.count().filter(engaged.c.downloaded).label("downloads"),
            func.coalesce(func.sum(literal(1.0) / engaged.c.first_position), 0).label("rr"),
        )
        .select_from(shown.outerjoin(engaged, engaged.c.impression_id == shown.c.id))
        .group_by(sets)
    )  # fmt: skip
    item = func.unnest(shown.c.item_ids).table_valued("item").render_derived()
    distinct = await session.execute(
        select(level, *key, shown.c.day, func.count(item.c.item.distinct()))
        .select_from(shown.join(item, literal(True)))
        .group_by(sets)
    )
    positions = await session.execute(
        select(level, *key, shown.c.day, engaged.c.first_position, func.count())
        .select_from(shown.join(engaged, engaged.c.impression_id == shown.c.id))
        .group_by(sets, engaged.c.first_position)
    )
    catalogue = await session.scalar(
        select(func.count()).select_from(Epreuve).where(Epreuve.is_active.is_(True))
    )
    return _assemble(
        counts.mappings().all(),
        {_row_key(r): r[-1] for r in distinct.all()},
        positions.all(),
        catalogue=int(catalogue or 0),
        since=since,
        until=until,
        window=window,
    )


def _row_key(row: Any) -> tuple[Any, ...]:
    """(level, *KEY, day) of a result row, the same for the three passes."""
    return tuple(row[: len(KEY) + 2])


def _assemble(
    counts: Any,
    distinct: dict[tuple[Any, ...], int],
    positions: Any,
    *,
    catalogue: int,
    since: datetime,
    until: datetime,
    window: timedelta,
) -> RecommendationStats:
    firsts: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in positions:
        firsts.setdefault(_row_key(row), {})[str(row[-2])] = int(row[-1])
    groups: list[OnlineGroup] = []
    daily: list[OnlineDay] = []
    arms: dict[int, dict[str, OnlineMetrics]] = {}
    for row in counts:
        row_key = (row["level"], *(row[k] for k in KEY), row["day"])
        metrics = _metrics(row, distinct.get(row_key, 0), firsts.get(row_key, {}), catalogue)
        labels = {k: row[k] for k in KEY}
        if row["level"] == WINDOW:
            groups.append(OnlineGroup(**metrics.model_dump(), **labels))
        elif row["level"] == DAILY:
            daily.append(OnlineDay(**metrics.model_dump(), **labels, day=row["day"]))
        elif row["level"] == ARMS and row["experiment_id"] is not None and row["arm"]:
            arms.setdefault(row["experiment_id"], {})[row["arm"]] = metrics
    return RecommendationStats(
        since=since,
        until=until,
        attribution_window_minutes=int(window.total_seconds() // 60),
        catalogue_size=catalogue,
        groups=sorted(groups, key=_order),
        daily=sorted(daily, key=lambda d: (d.day, *_order(d))),
        experiments=[_experiment(i, arms[i]) for i in sorted(arms)],
    )


def _order(group: OnlineGroup) -> tuple[Any, ...]:
    return tuple((v is None, str(v)) for v in (getattr(group, k) for k in KEY))


def _metrics(row: Any, items: int, firsts: dict[str, int], catalogue: int) -> OnlineMetrics:
    n = int(row["impressions"])
    return OnlineMetrics(
        impressions=n,
        engaged=int(row["engaged"]),
        ctr=_ratio(int(row["engaged"]), n),
        downloads=int(row["downloads"]),
        download_rate=_ratio(int(row["downloads"]), n),
        mrr=_ratio(float(row["rr"]), n),
        items_shown=items,
        coverage=_ratio(items, catalogue),
        first_positions=dict(sorted(firsts.items(), key=lambda kv: int(kv[0]))),
    )


def _experiment(experiment_id: int, arms: dict[str, OnlineMetrics]) -> ExperimentMetrics:
    control, candidate = arms.get(Arm.CONTROL.value), arms.get(Arm.CANDIDATE.value)
    interval = None
    if control is not None and candidate is not None:
        found = proportions.difference(
            control.engaged, control.impressions, candidate.engaged, candidate.impressions
        )
        if found is not None:
            interval = CtrDifference(
                estimate=round(found.estimate, _DIGITS),
                low=round(found.low, _DIGITS),
                high=round(found.high, _DIGITS),
                confidence=found.confidence,
            )
    return ExperimentMetrics(experiment_id=experiment_id, arms=arms, ctr_difference=interval)
