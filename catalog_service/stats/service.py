"""The admin dashboard: catalog counts computed in SQL, beside the recommender's own status.

The recommender is asked concurrently with the SQL and within the client's usual time budget;
when it is slow, down or refusing, the dashboard still answers, saying so in `recommender`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from catalog_service.comments.models import Comment
from catalog_service.epreuves.models import Epreuve
from catalog_service.evaluations.models import Evaluation
from catalog_service.interactions.models import Interaction
from catalog_service.outbox import service as outbox_service
from catalog_service.recommendations.client import (
    RecommenderClient,
    RecommenderRejected,
    RecommenderUnavailable,
)
from catalog_service.stats.schemas import (
    CatalogStats,
    CommentStats,
    EpreuveStats,
    EvaluationStats,
    InteractionStats,
    InteractionWindow,
    OutboxStats,
    RecommenderStatus,
    TopEpreuve,
    UserStats,
)
from catalog_service.users.models import User
from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau, Role

logger = logging.getLogger(__name__)

TOP_N = 10


async def _count(session: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _count_by(
    session: AsyncSession,
    column: InstrumentedAttribute[Any],
    codes: Iterable[StrEnum],
    *where: ColumnElement[bool],
) -> dict[str, int]:
    """Rows per value of `column`, every code present (0 when none); nulls are left out."""
    counts = {str(code): 0 for code in codes}
    rows = await session.execute(
        select(column, func.count()).where(column.is_not(None), *where).group_by(column)
    )
    for value, n in rows.all():
        counts[str(value)] = int(n)
    return counts


async def _users(session: AsyncSession) -> UserStats:
    active = User.is_active.is_(True)
    return UserStats(
        total=await _count(session, User),
        active=await _count(session, User, active),
        by_role=await _count_by(session, User.role, Role, active),
        by_niveau=await _count_by(session, User.niveau, Niveau, active),
        by_filiere=await _count_by(session, User.filiere, Filiere, active),
    )


async def _epreuves(session: AsyncSession) -> EpreuveStats:
    active = Epreuve.is_active.is_(True)
    return EpreuveStats(
        active=await _count(session, Epreuve, active),
        deleted=await _count(session, Epreuve, Epreuve.is_active.is_(False)),
        by_filiere=await _count_by(session, Epreuve.filiere, Filiere, active),
        by_niveau=await _count_by(session, Epreuve.niveau, Niveau, active),
        by_type=await _count_by(session, Epreuve.type, EpreuveType, active),
    )


async def _interactions(session: AsyncSession) -> InteractionStats:
    """One pass over the table: every window is a FILTER of the same GROUP BY."""
    windows = {"all": None, "7": 7, "30": 30}
    counts: dict[str, dict[str, int]] = {w: {str(k): 0 for k in InteractionKind} for w in windows}
    columns = [
        func.count()
        if days is None
        else func.count().filter(Interaction.created_at >= func.now() - timedelta(days=days))
        for days in windows.values()
    ]
    rows = await session.execute(select(Interaction.kind, *columns).group_by(Interaction.kind))
    for kind, *per_window in rows.all():
        for name, n in zip(windows, per_window, strict=True):
            counts[name][str(kind)] = int(n)

    def window(name: str) -> InteractionWindow:
        return InteractionWindow(total=sum(counts[name].values()), by_kind=counts[name])

    return InteractionStats(
        **window("all").model_dump(), last_7_days=window("7"), last_30_days=window("30")
    )


async def _evaluations(session: AsyncSession) -> EvaluationStats:
    row = (
        await session.execute(
            select(func.count(), func.avg(Evaluation.difficulty), func.avg(Evaluation.relevance))
        )
    ).one()
    total, difficulty, relevance = row
    return EvaluationStats(
        total=int(total),
        avg_difficulty=None if difficulty is None else round(float(difficulty), 3),
        avg_relevance=None if relevance is None else round(float(relevance), 3),
    )


async def _top(session: AsyncSession, counter: InstrumentedAttribute[int]) -> list[TopEpreuve]:
    rows = await session.execute(
        select(Epreuve.id, Epreuve.title, Epreuve.views, Epreuve.downloads)
        .where(Epreuve.is_active.is_(True), counter > 0)
        .order_by(counter.desc(), Epreuve.id)
        .limit(TOP_N)
    )
    return [TopEpreuve(id=i, title=t, views=v, downloads=d) for i, t, v, d in rows.all()]


async def _outbox(session: AsyncSession) -> OutboxStats:
    left = await outbox_service.backlog(session=session)
    return OutboxStats(pending=left.pending, oldest_pending_age_s=left.oldest_pending_age_s)


async def interactions_per_day(*, session: AsyncSession, days: int) -> list[tuple[date, int]]:
    """Interactions per UTC day over the last `days` days, today included, 0 on quiet days."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    day = func.date(func.timezone("UTC", Interaction.created_at))
    rows = await session.execute(
        select(day, func.count())
        .where(Interaction.created_at >= datetime.combine(first, time(), tzinfo=UTC))
        .group_by(day)
    )
    counts = {d: int(n) for d, n in rows.all()}
    return [
        (first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)
    ]


async def recommender_status(*, client: RecommenderClient) -> RecommenderStatus:
    """The recommender's `GET /v1/model`, or why it could not be had (never raises)."""
    try:
        body = await client.call_json("GET", "/v1/model")
    except RecommenderUnavailable as exc:
        logger.warning("stats without the recommender: %s", exc.reason)
        return RecommenderStatus(available=False, error=exc.reason)
    except RecommenderRejected as exc:
        return RecommenderStatus(available=False, error=str(exc))
    if not isinstance(body, dict):
        return RecommenderStatus(available=False, error="malformed answer")
    return RecommenderStatus(**{**body, "available": True, "error": None})


async def collect(*, session: AsyncSession, client: RecommenderClient) -> CatalogStats:
    recommender = asyncio.create_task(recommender_status(client=client))
    try:
        users = await _users(session)
        epreuves = await _epreuves(session)
        interactions = await _interactions(session)
        evaluations = await _evaluations(session)
        comments = CommentStats(total=await _count(session, Comment))
        top_viewed = await _top(session, Epreuve.views)
        top_downloaded = await _top(session, Epreuve.downloads)
        outbox = await _outbox(session)
    except BaseException:
        recommender.cancel()
        raise
    return CatalogStats(
        users=users,
        epreuves=epreuves,
        interactions=interactions,
        evaluations=evaluations,
        comments=comments,
        top_viewed=top_viewed,
        top_downloaded=top_downloaded,
        outbox=outbox,
        recommender=await recommender,
    )
