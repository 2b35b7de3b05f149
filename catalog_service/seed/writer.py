"""Writes a demo set into the catalog, so that its events flow through the outbox as in production.

- Users and épreuves go through the services themselves (`users.service.create_user`,
  `epreuves.service.create` with the rendered PDF stored like an upload): a few hundred rows.
- Interactions, evaluations and comments (about 17,000 rows) are written in batches at the SQL
  level, for two reasons: the service path stamps every row with `now()`, which would erase the
  academic-year timeline the recommender learns from, and one commit per row costs minutes. Each
  batch is one transaction holding, as the services do, the domain rows, their typed events
  through the outbox (`interaction.created`, plus `evaluation.upserted` after each RATE, in that
  order, stamped with the set's own times), and the counters and averages recomputed in SQL.
  Never a dual write. The seed is the only writer of its users' history, so the services'
  per-user order lock is not needed: outbox ids follow the set's chronological order.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.auth.passwords import hash_password
from catalog_service.comments.models import Comment
from catalog_service.epreuves import service as epreuves_service
from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import EpreuveCreate
from catalog_service.evaluations.models import Evaluation
from catalog_service.evaluations.service import averages_update
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.service import record_events
from catalog_service.seed import pdf
from catalog_service.seed.generator import DEMO_PASSWORD, DemoSet, SeedEvaluation
from catalog_service.users import service as users_service
from catalog_service.users.models import User
from catalog_service.users.schemas import UserCreate
from shared.enums import InteractionKind
from shared.events import EvaluationUpserted, InteractionCreated, Payload

BATCH = 2_000
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeedReport:
    users: int
    epreuves: int
    interactions: int
    evaluations: int
    comments: int
    events: int
    seconds: float


async def is_empty(*, session: AsyncSession) -> bool:
    """No épreuve yet: a fresh catalog (a first admin created at start does not count)."""
    return await session.scalar(select(func.count()).select_from(Epreuve)) == 0


async def write(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    demo: DemoSet,
    upload_root: Path,
    max_bytes: int,
    documents: Sequence[bytes] | None = None,
    progress: Progress = lambda _msg: None,
) -> SeedReport:
    """Writes `demo`; `documents` are its PDFs, rendered here (in parallel) when not given."""
    started = time.perf_counter()
    if documents is None:
        users, pdfs = await _render_while(_write_users(sessionmaker, demo), demo)
    else:
        users, pdfs = await _write_users(sessionmaker, demo), list(documents)
    progress(f"{len(users)} users")
    epreuves = await _write_epreuves(sessionmaker, demo, users, pdfs, upload_root, max_bytes)
    progress(f"{len(epreuves)} épreuves with their PDFs")
    events = len(users) + len(epreuves)
    evaluations = {(e.user_key, e.epreuve_key): e for e in demo.evaluations}
    for start in range(0, len(demo.interactions), BATCH):
        chunk = demo.interactions[start : start + BATCH]
        async with sessionmaker() as session:
            events += await _write_activity(session, chunk, evaluations, users, epreuves)
            await session.commit()
        progress(f"{start + len(chunk)} / {len(demo.interactions)} interactions")
    async with sessionmaker() as session:
        await _write_comments(session, demo, users, epreuves)
        await session.commit()
    return SeedReport(
        users=len(users),
        epreuves=len(epreuves),
        interactions=len(demo.interactions),
        evaluations=len(demo.evaluations),
        comments=len(demo.comments),
        events=events,
        seconds=time.perf_counter() - started,
    )


async def _render_while(
    users: Coroutine[Any, Any, dict[int, User]], demo: DemoSet
) -> tuple[dict[int, User], list[bytes]]:
    """Renders the PDFs in two other processes while `users` are written (~55 ms a page).

    Spawned, not forked: a forked child would inherit this process's database connections.
    """
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        pending = [loop.run_in_executor(pool, pdf.render, e) for e in demo.epreuves]
        written = await users
        return written, list(await asyncio.gather(*pending))


async def _write_users(
    sessionmaker: async_sessionmaker[AsyncSession], demo: DemoSet
) -> dict[int, User]:
    """key → User. One argon2 hash for the shared demo password; existing emails are reused
    (FIRST_ADMIN_EMAIL may already be the demo admin)."""
    password_hash = await hash_password(DEMO_PASSWORD)
    users: dict[int, User] = {}
    async with sessionmaker() as session:
        for seed_user in demo.users:
            existing = await users_service.get_by_email(session=session, email=seed_user.email)
            if existing is not None:
                users[seed_user.key] = existing
                continue
            data = UserCreate(
                email=seed_user.email,
                password=DEMO_PASSWORD,
                full_name=seed_user.full_name,
                role=seed_user.role,
                niveau=seed_user.niveau,
                filiere=seed_user.filiere,
            )
            users[seed_user.key] = await users_service.create_user(
                session=session, data=data, password_hash=password_hash
            )
    return users


async def _write_epreuves(
    sessionmaker: async_sessionmaker[AsyncSession],
    demo: DemoSet,
    users: dict[int, User],
    pdfs: Sequence[bytes],
    upload_root: Path,
    max_bytes: int,
) -> dict[int, int]:
    """key → épreuve id, each stored with its PDF through the épreuves service."""
    ids: dict[int, int] = {}
    async with sessionmaker() as session:
        for seed, document in zip(demo.epreuves, pdfs, strict=True):
            data = EpreuveCreate(
                title=seed.title,
                matiere=seed.matiere,
                filiere=seed.filiere,
                niveau=seed.niveau,
                type=seed.type,
                annee=seed.annee,
                description=seed.description,
            )
            epreuve = await epreuves_service.create(
                session=session,
                teacher=users[seed.teacher_key],
                data=data,
                file=io.BytesIO(document),
                filename=f"epreuve-{seed.key + 1:03d}.pdf",
                upload_root=upload_root,
                max_bytes=max_bytes,
            )
            ids[seed.key] = epreuve.id
    return ids


async def _write_activity(
    session: AsyncSession,
    chunk: Sequence[Any],
    evaluations: dict[tuple[int, int], SeedEvaluation],
    users: dict[int, User],
    epreuves: dict[int, int],
) -> int:
    """One batch of interactions (and the evaluations of its RATEs) with their events."""
    rows = [
        {
            "user_id": users[i.user_key].id,
            "epreuve_id": epreuves[i.epreuve_key],
            "kind": i.kind,
            "relevance": i.relevance,
            "created_at": i.at,
        }
        for i in chunk
    ]
    ids = (
        await session.scalars(
            insert(Interaction).returning(Interaction.id, sort_by_parameter_order=True), rows
        )
    ).all()
    payloads: list[Payload] = []
    occurred_at: list[datetime] = []
    rated: list[SeedEvaluation] = []
    counters: dict[int, list[int]] = {}
    for interaction_id, row, seed in zip(ids, rows, chunk, strict=True):
        payloads.append(InteractionCreated(id=interaction_id, **row))
        occurred_at.append(seed.at)
        if seed.kind in (InteractionKind.VIEW, InteractionKind.DOWNLOAD):
            views_downloads = counters.setdefault(row["epreuve_id"], [0, 0])
            views_downloads[seed.kind == InteractionKind.DOWNLOAD] += 1
        if seed.kind == InteractionKind.RATE:
            evaluation = evaluations[(seed.user_key, seed.epreuve_key)]
            rated.append(evaluation)
            upserted = EvaluationUpserted(
                user_id=row["user_id"],
                epreuve_id=row["epreuve_id"],
                difficulty=evaluation.difficulty,
                relevance=evaluation.relevance,
                updated_at=evaluation.at,
            )
            payloads.append(upserted)
            occurred_at.append(evaluation.at)
    if rated:
        await session.execute(
            insert(Evaluation),
            [
                {
                    "user_id": users[e.user_key].id,
                    "epreuve_id": epreuves[e.epreuve_key],
                    "difficulty": e.difficulty,
                    "relevance": e.relevance,
                    "created_at": e.at,
                    "updated_at": e.at,
                }
                for e in rated
            ],
        )
    await _bump_counters(session, counters)
    await _recompute_averages(session, sorted({epreuves[e.epreuve_key] for e in rated}))
    await record_events(session=session, payloads=payloads, occurred_at=occurred_at)
    return len(payloads)


async def _bump_counters(session: AsyncSession, counters: dict[int, list[int]]) -> None:
    if not counters:
        return
    table = Epreuve.__table__
    assert isinstance(table, Table)
    # Core (not ORM) update: one executemany of the per-épreuve increments.
    statement = (
        update(table)
        .where(table.c.id == bindparam("target"))
        .values(
            views=table.c.views + bindparam("more_views"),
            downloads=table.c.downloads + bindparam("more_downloads"),
        )
    )
    await session.execute(
        statement,
        [{"target": k, "more_views": v, "more_downloads": d} for k, (v, d) in counters.items()],
    )


async def _recompute_averages(session: AsyncSession, epreuve_ids: list[int]) -> None:
    """The évaluations' averages and count, from the rows, as the evaluations service does."""
    if not epreuve_ids:
        return
    await session.execute(averages_update(epreuve_ids).execution_options(synchronize_session=False))


async def _write_comments(
    session: AsyncSession, demo: DemoSet, users: dict[int, User], epreuves: dict[int, int]
) -> None:
    await session.execute(
        insert(Comment),
        [
            {
                "epreuve_id": epreuves[c.epreuve_key],
                "author_id": users[c.user_key].id,
                "content": c.content,
                "created_at": c.at,
                "updated_at": c.at,
            }
            for c in demo.comments
        ],
    )
