"""/v1/epreuves: browse, read (records a VIEW), download (records a DOWNLOAD), manage."""

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Query, Response, status
from fastapi.responses import FileResponse

from catalog_service.auth.dependencies import CurrentUser, TeacherUser
from catalog_service.dependencies import IdPath, SessionDep, SettingsDep
from catalog_service.epreuves import service, storage
from catalog_service.epreuves.dependencies import EpreuveDep, PdfUploadDep
from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import (
    EpreuveCreate,
    EpreuveFilters,
    EpreuveRead,
    EpreuveUpdate,
    PopularFilters,
)
from catalog_service.pagination import Page, PageDep, PageParams
from catalog_service.recommendations.dependencies import AnswersDep
from shared.http_errors import error_responses

router = APIRouter(
    prefix="/v1/epreuves",
    tags=["epreuves"],
    responses=error_responses(400, 401, 403, 404, 413, 415, 422, 503),
)


def _page(rows: Sequence[Epreuve], total: int, page: PageParams) -> Page[EpreuveRead]:
    return Page[EpreuveRead].of([EpreuveRead.model_validate(r) for r in rows], total, page)


@router.get("", name="list_epreuves")
async def list_epreuves(
    _user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    filters: Annotated[EpreuveFilters, Query()],
) -> Page[EpreuveRead]:
    """Filter, search (`q`), order and paginate the active épreuves."""
    rows, total = await service.list_epreuves(session=session, filters=filters, page=page)
    return _page(rows, total, page)


@router.get("/popular", name="popular_epreuves")
async def popular_epreuves(
    _user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    filters: Annotated[PopularFilters, Query()],
) -> Page[EpreuveRead]:
    """Most viewed and downloaded first, optionally within a niveau and filière."""
    rows, total = await service.popular(session=session, filters=filters, page=page)
    return _page(rows, total, page)


# The list a view or a download came from (impressions.attribution).
FromList = Annotated[
    uuid.UUID | None,
    Query(description="The `recommendation_id` of the list this épreuve was opened from"),
]


@router.get("/{epreuve_id}", name="read_epreuve")
async def read_epreuve(
    epreuve_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    answers: AnswersDep,
    recommendation_id: FromList = None,
) -> EpreuveRead:
    """Reads one épreuve and records the caller's VIEW."""
    epreuve = await service.view(
        session=session, user=user, epreuve_id=epreuve_id, recommendation_id=recommendation_id
    )
    await answers.forget(users=[user.id])  # their recommendations now leave it out
    return EpreuveRead.model_validate(epreuve)


@router.get(
    "/{epreuve_id}/file",
    name="download_epreuve",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF"}},
)
async def download_epreuve(
    epreuve_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    answers: AnswersDep,
    recommendation_id: FromList = None,
) -> FileResponse:
    """Streams the PDF and records the caller's DOWNLOAD."""
    epreuve = await service.download(
        session=session, user=user, epreuve_id=epreuve_id, recommendation_id=recommendation_id
    )
    await answers.forget(users=[user.id])
    assert epreuve.file_path is not None
    name = storage.download_name(epreuve.title, epreuve.original_filename)
    return FileResponse(
        storage.resolve(settings.uploads_path, epreuve.file_path),
        media_type="application/pdf",
        headers={
            "Content-Disposition": storage.content_disposition(name),
            "ETag": f'"{epreuve.file_sha256}"',
            "Cache-Control": "private, max-age=0",
            # Never rendered as anything but the PDF it was checked to be, and if a browser
            # shows it inline, with no script, form or same-origin access.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


@router.post("", status_code=status.HTTP_201_CREATED, name="create_epreuve")
async def create_epreuve(
    data: Annotated[EpreuveCreate, Form()],
    upload: PdfUploadDep,
    teacher: TeacherUser,
    session: SessionDep,
    settings: SettingsDep,
) -> EpreuveRead:
    """Uploads a new épreuve (multipart: the fields and `file`, a PDF of at most MAX_UPLOAD_MB)."""
    epreuve = await service.create(
        session=session,
        teacher=teacher,
        data=data,
        file=upload.file,
        filename=upload.filename,
        upload_root=settings.uploads_path,
        max_bytes=settings.max_upload_bytes,
    )
    return EpreuveRead.model_validate(epreuve)


@router.patch("/{epreuve_id}", name="update_epreuve")
async def update_epreuve(
    data: EpreuveUpdate, epreuve: EpreuveDep, user: TeacherUser, session: SessionDep
) -> EpreuveRead:
    """Edits the fields (the épreuve's teacher or an admin)."""
    service.ensure_can_edit(user, epreuve)
    return EpreuveRead.model_validate(
        await service.update(session=session, epreuve=epreuve, data=data)
    )


@router.put("/{epreuve_id}/file", name="replace_epreuve_file")
async def replace_epreuve_file(
    upload: PdfUploadDep,
    epreuve: EpreuveDep,
    user: TeacherUser,
    session: SessionDep,
    settings: SettingsDep,
) -> EpreuveRead:
    """Replaces the PDF (the épreuve's teacher or an admin)."""
    service.ensure_can_edit(user, epreuve)
    updated = await service.replace_file(
        session=session,
        epreuve=epreuve,
        file=upload.file,
        filename=upload.filename,
        upload_root=settings.uploads_path,
        max_bytes=settings.max_upload_bytes,
    )
    return EpreuveRead.model_validate(updated)


@router.delete("/{epreuve_id}", status_code=status.HTTP_204_NO_CONTENT, name="delete_epreuve")
async def delete_epreuve(epreuve: EpreuveDep, user: TeacherUser, session: SessionDep) -> Response:
    """Soft-deletes the épreuve (the épreuve's teacher or an admin)."""
    service.ensure_can_edit(user, epreuve)
    await service.soft_delete(session=session, epreuve=epreuve)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
