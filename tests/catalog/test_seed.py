"""The demo seed written into a real catalog: rows, outbox events, counters, files, CLI."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.config import Settings
from catalog_service.epreuves.models import Epreuve
from catalog_service.evaluations.models import Evaluation
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.models import OutboxEvent
from catalog_service.seed import writer
from catalog_service.seed.generator import DEMO_PASSWORD, DemoSet, generate, student_email
from catalog_service.seed.pdf import render
from catalog_service.seed.writer import SeedReport
from shared.enums import Filiere, InteractionKind, Niveau

ROOT = Path(__file__).resolve().parents[2]
SMALL = 0.1


@functools.cache
def _documents(seed: int, scale: float) -> tuple[bytes, ...]:
    """The PDFs of a set, rendered once per test session (rendering dominates a small seed)."""
    return tuple(render(e) for e in generate(seed=seed, scale=scale).epreuves)


async def _seed(app: FastAPI, demo: DemoSet) -> SeedReport:
    settings: Settings = app.state.settings
    return await writer.write(
        sessionmaker=app.state.sessionmaker,
        demo=demo,
        upload_root=settings.uploads_path,
        max_bytes=settings.max_upload_bytes,
        documents=_documents(demo.seed, SMALL) if len(demo.epreuves) == 60 else None,
    )


async def _count(session: AsyncSession, table: str) -> int:
    return int(await session.scalar(text(f"SELECT count(*) FROM catalog.{table}")) or 0)  # noqa: S608


@pytest.fixture
def demo() -> DemoSet:
    return generate(seed=5, scale=SMALL)


async def test_seed_writes_every_row_of_the_set(
    app: FastAPI, session: AsyncSession, demo: DemoSet
) -> None:
    report = await _seed(app, demo)
    assert await _count(session, '"user"') == len(demo.users) == 30
    assert await _count(session, "epreuve") == len(demo.epreuves) == 60
    assert await _count(session, "interaction") == len(demo.interactions) == 1_500
    assert await _count(session, "evaluation") == len(demo.evaluations) == 147
    assert await _count(session, "comment") == len(demo.comments) == 75
    assert report.events == 30 + 60 + 1_500 + 147


async def test_seed_writes_one_outbox_event_per_row(
    app: FastAPI, session: AsyncSession, demo: DemoSet
) -> None:
    await _seed(app, demo)
    types = Counter((await session.scalars(select(OutboxEvent.type))).all())
    assert types == {
        "user.upserted": 30,
        "epreuve.upserted": 60,
        "interaction.created": 1_500,
        "evaluation.upserted": 147,
    }


async def test_seed_events_follow_each_users_timeline(
    app: FastAPI, session: AsyncSession, demo: DemoSet
) -> None:
    await _seed(app, demo)
    rows = await session.execute(
        select(OutboxEvent.payload)
        .where(OutboxEvent.type == "interaction.created")
        .order_by(OutboxEvent.id)
    )
    per_user: dict[int, list[str]] = {}
    for (payload,) in rows:
        per_user.setdefault(payload["user_id"], []).append(payload["created_at"])
    assert all(times == sorted(times) for times in per_user.values())
    first_interaction = await session.scalar(
        select(func.min(OutboxEvent.id)).where(OutboxEvent.type == "interaction.created")
    )
    last_user = await session.scalar(
        select(func.max(OutboxEvent.id)).where(OutboxEvent.type == "user.upserted")
    )
    assert last_user < first_interaction


async def test_seed_keeps_the_academic_year_timestamps(
    app: FastAPI, session: AsyncSession, demo: DemoSet
) -> None:
    await _seed(app, demo)
    first, last = (
        await session.execute(
            select(func.min(Interaction.created_at), func.max(Interaction.created_at))
        )
    ).one()
    assert first == demo.interactions[0].at
    assert last == demo.interactions[-1].at
    assert datetime(2024, 9, 1, tzinfo=UTC) <= first < last < datetime(2025, 7, 1, tzinfo=UTC)


async def test_seed_counters_and_averages_match_the_rows(
    app: FastAPI, session: AsyncSession, demo: DemoSet
) -> None:
    await _seed(app, demo)
    kinds = Counter(i.kind for i in demo.interactions)
    views, downloads, evaluations = (
        await session.execute(
            select(
                func.sum(Epreuve.views), func.sum(Epreuve.downloads), func.sum(Epreuve.evaluations)
            )
        )
    ).one()
    assert (views, downloads) == (kinds[InteractionKind.VIEW], kinds[InteractionKind.DOWNLOAD])
    assert evaluations == 147
    mismatches = await session.scalar(
        select(func.count())
        .select_from(Epreuve)
        .join(
            select(
                Evaluation.epreuve_id,
                func.avg(Evaluation.relevance).label("relevance"),
                func.avg(Evaluation.difficulty).label("difficulty"),
            )
            .group_by(Evaluation.epreuve_id)
            .subquery("stats")
        )
        .where(
            (func.abs(Epreuve.avg_relevance - text("stats.relevance")) > 1e-9)
            | (func.abs(Epreuve.avg_difficulty - text("stats.difficulty")) > 1e-9)
        )
    )
    assert mismatches == 0


async def test_demo_student_logs_in_and_downloads_a_seeded_pdf(
    app: FastAPI, client: httpx.AsyncClient, demo: DemoSet
) -> None:
    await _seed(app, demo)
    login = await client.post(
        "/v1/auth/token",
        data={"username": student_email(Filiere.INFO, Niveau.L3), "password": DEMO_PASSWORD},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listing = await client.get(
        "/v1/epreuves", params={"filiere": "INFO", "niveau": "L3"}, headers=headers
    )
    assert listing.status_code == 200
    epreuve_id = listing.json()["items"][0]["id"]
    download = await client.get(f"/v1/epreuves/{epreuve_id}/file", headers=headers)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.content.startswith(b"%PDF-")


async def test_same_seed_writes_the_same_data(
    app: FastAPI, session: AsyncSession, demo: DemoSet
) -> None:
    async def snapshot() -> list[Any]:
        result = await session.execute(
            text(
                "SELECT u.email, e.title, i.kind, i.created_at, i.relevance "
                "FROM catalog.interaction i JOIN catalog.user u ON u.id = i.user_id "
                "JOIN catalog.epreuve e ON e.id = i.epreuve_id ORDER BY i.id"
            )
        )
        return [tuple(row) for row in result]

    await _seed(app, demo)
    first = await snapshot()
    await session.execute(
        text(
            "TRUNCATE catalog.comment, catalog.evaluation, catalog.interaction, catalog.epreuve, "
            'catalog."user", catalog.outbox_event RESTART IDENTITY CASCADE'
        )
    )
    await session.commit()
    await _seed(app, generate(seed=5, scale=SMALL))
    assert await snapshot() == first
    assert len(first) == 1_500


async def test_seed_reuses_an_existing_demo_admin(
    app: FastAPI, session: AsyncSession, demo: DemoSet, make_user: Any
) -> None:
    from shared.enums import Role

    await make_user(Role.ADMIN, email="admin@demo.imsp.fr", niveau=None, filiere=None)
    await _seed(app, demo)
    assert await _count(session, '"user"') == 30
    assert await writer.is_empty(session=session) is False


def _cli(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "UPLOAD_DIR": str(settings.uploads_path),
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "catalog_service", "seed", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_seeds_once_then_skips_with_if_empty_and_refuses_without(
    app: FastAPI, session: AsyncSession, settings: Settings
) -> None:
    expected = len(generate(seed=3, scale=0.05).interactions)
    first = _cli("--scale", "0.05", "--seed", "3", "--if-empty", settings=settings)
    assert first.returncode == 0, first.stderr
    assert "etudiant.math.l2@demo.imsp.fr" in first.stdout
    assert DEMO_PASSWORD in first.stdout
    assert await _count(session, "interaction") == expected
    again = _cli("--scale", "0.05", "--if-empty", settings=settings)
    assert again.returncode == 0
    assert "nothing to do" in again.stdout
    refused = _cli("--scale", "0.05", settings=settings)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr
    assert await _count(session, "interaction") == expected


@pytest.mark.slow
async def test_full_reference_set_is_written(app: FastAPI, session: AsyncSession) -> None:
    report = await _seed(app, generate(seed=42))
    assert (report.users, report.epreuves, report.interactions) == (200, 150, 15_000)
    assert await _count(session, "interaction") == 15_000
    assert await _count(session, "outbox_event") == 200 + 150 + 15_000 + 1_470
    print(f"full seed: {report.seconds:.1f} s")
