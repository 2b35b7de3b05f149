"""Épreuves: create, read, list, edit, soft-delete; views and downloads record interactions."""

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, Select, String, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from catalog_service.epreuves import storage
from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import (
    EpreuveCreate,
    EpreuveFilters,
    EpreuveOrder,
    EpreuveUpdate,
    PopularFilters,
)
from catalog_service.errors import Forbidden, NotFound
from catalog_service.interactions.service import record_interaction
from catalog_service.outbox.service import record_event
from catalog_service.pagination import PageParams
from catalog_service.text_search import contains_pattern
from catalog_service.users.models import User
from shared.enums import InteractionKind, Role
from shared.events import EpreuveDeleted, EpreuveUpserted

# Must match the expression of the trigram index in migration 0002_core.
_SPACE = literal_column("' '", String())
SEARCH_TEXT = Epreuve.title + _SPACE + Epreuve.matiere + _SPACE + Epreuve.description
POPULARITY = Epreuve.views + Epreuve.downloads

_ORDERS: dict[EpreuveOrder, tuple[Any, ...]] = {
    EpreuveOrder.NEWEST: (Epreuve.created_at.desc(), Epreuve.id.desc()),
    EpreuveOrder.MOST_VIEWED: (Epreuve.views.desc(), Epreuve.id.desc()),
    EpreuveOrder.MOST_DOWNLOADED: (Epreuve.downloads.desc(), Epreuve.id.desc()),
    EpreuveOrder.BEST_RATED: (
        Epreuve.avg_relevance.desc().nulls_last(),
        Epreuve.evaluations.desc(),
        Epreuve.id.desc(),
    ),
}


def active_epreuves() -> Select[Epreuve]:
    """SELECT of the épreuves not soft-deleted, with their teacher loaded (cards show it)."""
    return select(Epreuve).options(joinedload(Epreuve.teacher)).where(Epreuve.is_active)


def active_cards() -> Select[*tuple[Any, ...]]:
    """The same épreuves as plain rows of their card's columns (`EpreuveRead`, the teacher's
    public fields as `teacher_id`, `teacher_full_name`, `file_path` for `has_file`), for lists
    serialised without ORM instances (recommendations)."""
    return (
        select(
            Epreuve.id, Epreuve.title, Epreuve.matiere, Epreuve.filiere, Epreuve.niveau,
            Epreuve.type, Epreuve.annee, Epreuve.description, Epreuve.file_path,
            Epreuve.file_size, Epreuve.views, Epreuve.downloads, Epreuve.avg_difficulty,
            Epreuve.avg_relevance, Epreuve.evaluations, Epreuve.created_at, Epreuve.updated_at,
            User.id.label("teacher_id"), User.full_name.label("teacher_full_name"),
        )
        .join(User, User.id == Epreuve.teacher_id)
        .where(Epreuve.is_active)
    )  # fmt: skip


async def _publish(session: AsyncSession, epreuve: Epreuve) -> None:
    # Read off the row by the contract's own fields, as the export does: one field list.
    payload = EpreuveUpserted.model_validate(epreuve, from_attributes=True)
    await record_event(session=session, payload=payload)


async def get_active(*, session: AsyncSession, epreuve_id: int) -> Epreuve:
    return await _get(session, active_epreuves().where(Epreuve.id == epreuve_id), epreuve_id)


async def get_any(*, session: AsyncSession, epreuve_id: int) -> Epreuve:
    """The épreuve, soft-deleted or not (the console restores deleted ones)."""
    statement = select(Epreuve).options(joinedload(Epreuve.teacher)).where(Epreuve.id == epreuve_id)
    return await _get(session, statement, epreuve_id)


async def _get(session: AsyncSession, statement: Select[Epreuve], epreuve_id: int) -> Epreuve:
    epreuve = await session.scalar(statement)
    if epreuve is None:
        raise NotFound(f"Épreuve {epreuve_id} not found", code="epreuve_not_found")
    return epreuve


def can_edit(user: User, epreuve: Epreuve) -> bool:
    """Its teacher and admins may change an épreuve (the API and the console both ask here)."""
    return user.role is Role.ADMIN or epreuve.teacher_id == user.id


def ensure_can_edit(user: User, epreuve: Epreuve) -> None:
    if not can_edit(user, epreuve):
        raise Forbidden("Only the épreuve's teacher or an admin may change it")


async def create(
    *,
    session: AsyncSession,
    teacher: User,
    data: EpreuveCreate,
    file: BinaryIO,
    filename: str | None,
    upload_root: Path,
    max_bytes: int,
) -> Epreuve:
    stored = await storage.store_pdf(file, root=upload_root, max_bytes=max_bytes)
    epreuve = Epreuve(**data.model_dump(), teacher_id=teacher.id, **_file_columns(stored, filename))
    session.add(epreuve)
    await _save_with_file(session, epreuve, upload_root=upload_root, stored=stored)
    epreuve.teacher = teacher
    return epreuve


async def update(*, session: AsyncSession, epreuve: Epreuve, data: EpreuveUpdate) -> Epreuve:
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(epreuve, field, value)
    await session.flush()
    await _publish(session, epreuve)
    await session.commit()
    return epreuve


async def replace_file(
    *,
    session: AsyncSession,
    epreuve: Epreuve,
    file: BinaryIO,
    filename: str | None,
    upload_root: Path,
    max_bytes: int,
) -> Epreuve:
    stored = await storage.store_pdf(file, root=upload_root, max_bytes=max_bytes)
    previous = epreuve.file_path
    for column, value in _file_columns(stored, filename).items():
        setattr(epreuve, column, value)
    await _save_with_file(session, epreuve, upload_root=upload_root, stored=stored)
    storage.remove(upload_root, previous)
    return epreuve


def _file_columns(stored: storage.StoredFile, filename: str | None) -> dict[str, Any]:
    """The épreuve's columns describing its stored PDF (the client's name cut to the column)."""
    return {
        "file_path": stored.path,
        "file_size": stored.size,
        "file_sha256": stored.sha256,
        "original_filename": (filename or "")[:255] or None,
    }


async def _save_with_file(
    session: AsyncSession, epreuve: Epreuve, *, upload_root: Path, stored: storage.StoredFile
) -> None:
    """Flushes, publishes and commits the épreuve; on any failure its new file is removed."""
    try:
        await session.flush()
        await _publish(session, epreuve)
        await session.commit()
    except BaseException:
        storage.remove(upload_root, stored.path)
        raise


async def soft_delete(*, session: AsyncSession, epreuve: Epreuve) -> None:
    """Hides the épreuve; the row, its file and its history stay for the records."""
    epreuve.is_active = False
    await session.flush()
    await record_event(session=session, payload=EpreuveDeleted(id=epreuve.id))
    await session.commit()


async def restore(*, session: AsyncSession, epreuve: Epreuve) -> Epreuve:
    """Undoes a soft delete: the épreuve is listed again and the recommender hears of it."""
    epreuve.is_active = True
    await session.flush()
    await _publish(session, epreuve)
    await session.commit()
    return epreuve


async def view(
    *, session: AsyncSession, user: User, epreuve_id: int, recommendation_id: uuid.UUID | None
) -> Epreuve:
    """Records the caller's VIEW (counter + interaction + event), then reads the épreuve."""
    await record_interaction(
        session=session, user=user, epreuve_id=epreuve_id, kind=InteractionKind.VIEW,
        recommendation_id=recommendation_id,
    )  # fmt: skip
    return await get_active(session=session, epreuve_id=epreuve_id)


async def download(
    *, session: AsyncSession, user: User, epreuve_id: int, recommendation_id: uuid.UUID | None
) -> Epreuve:
    """Records the caller's DOWNLOAD; 404 when the épreuve has no file."""
    epreuve = await get_active(session=session, epreuve_id=epreuve_id)
    if epreuve.file_path is None:
        raise NotFound("This épreuve has no file", code="file_not_found")
    await record_interaction(
        session=session, user=user, epreuve_id=epreuve_id, kind=InteractionKind.DOWNLOAD,
        recommendation_id=recommendation_id,
    )  # fmt: skip
    return epreuve


def _conditions(filters: EpreuveFilters | PopularFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.filiere is not None:
        conditions.append(Epreuve.filiere == filters.filiere)
    if filters.niveau is not None:
        conditions.append(Epreuve.niveau == filters.niveau)
    if isinstance(filters, EpreuveFilters):
        if filters.type is not None:
            conditions.append(Epreuve.type == filters.type)
        if filters.matiere:
            conditions.append(Epreuve.matiere.ilike(filters.matiere.strip()))
        if filters.annee is not None:
            conditions.append(Epreuve.annee == filters.annee)
        if filters.teacher_id is not None:
            conditions.append(Epreuve.teacher_id == filters.teacher_id)
        if filters.q and filters.q.strip():
            conditions.append(SEARCH_TEXT.ilike(contains_pattern(filters.q.strip())))
    return conditions


async def list_epreuves(
    *, session: AsyncSession, filters: EpreuveFilters, page: PageParams
) -> tuple[Sequence[Epreuve], int]:
    return await _filtered_page(
        session=session, filters=filters, order_by=_ORDERS[filters.order], page=page
    )


async def popular(
    *, session: AsyncSession, filters: PopularFilters, page: PageParams
) -> tuple[Sequence[Epreuve], int]:
    """Most viewed + downloaded first, optionally within a niveau / filière."""
    return await _filtered_page(
        session=session,
        filters=filters,
        order_by=(POPULARITY.desc(), Epreuve.downloads.desc(), Epreuve.id.desc()),
        page=page,
    )


async def _filtered_page(
    *,
    session: AsyncSession,
    filters: EpreuveFilters | PopularFilters,
    order_by: Sequence[Any],
    page: PageParams,
) -> tuple[Sequence[Epreuve], int]:
    """One page of the active épreuves matching `filters`, and how many match in all."""
    conditions = _conditions(filters)
    total = await session.scalar(
        select(func.count()).select_from(Epreuve).where(Epreuve.is_active, *conditions)
    )
    rows = await session.scalars(
        active_epreuves()
        .where(*conditions)
        .order_by(*order_by)
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), total or 0
