"""The Épreuves page: the catalogue with filters, search and ordering; upload, edit, preview,
soft-delete and restore, each through `epreuves.service` as the API does (same validation,
storage, outbox events and ownership rule)."""

from typing import Any, ClassVar, TypeVar

from markupsafe import Markup, escape
from pydantic import ValidationError
from sqladmin import action, expose
from sqladmin.fields import FileField
from sqladmin.filters import BooleanFilter, OperationColumnFilter
from sqlalchemy import Select
from sqlalchemy.orm import selectinload
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from wtforms import Form

from catalog_service.admin.auth import current_user
from catalog_service.admin.views.base import CatalogView, invalid, row_id, selected_ids
from catalog_service.admin.views.fields import StaffFilter, codes_filter, enum_field_args
from catalog_service.epreuves import service as epreuves
from catalog_service.epreuves import storage
from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import EpreuveCreate, EpreuveUpdate
from catalog_service.errors import Invalid, NotFound
from catalog_service.text_search import contains_pattern
from catalog_service.users.models import User
from shared.enums import EpreuveType, Filiere, Niveau

Schema = TypeVar("Schema", EpreuveCreate, EpreuveUpdate)
FIELDS = ("title", "matiere", "filiere", "niveau", "type", "annee", "description")


def _uploaded(data: dict[str, Any]) -> UploadFile | None:
    upload = data.pop("file", None)
    # A form sent without a file still has the part, with an empty name.
    return upload if isinstance(upload, UploadFile) and upload.filename else None


def _validated(schema: type[Schema], data: dict[str, Any]) -> Schema:
    """The form's fields checked by the API's own schema (its limits, its messages)."""
    try:
        return schema.model_validate(
            {k: v for k, v in data.items() if k in FIELDS and v is not None}
        )
    except ValidationError as exc:
        raise invalid(exc) from None


def _teacher(model: Epreuve, _attribute: str) -> str:
    return model.teacher.full_name


def _pdf_link(model: Epreuve, _attribute: str, request: Request) -> Markup | str:
    if model.file_size is None:
        return "—"
    url = request.url_for("admin:view-epreuve-pdf", pk=str(model.id))
    size = f"{model.file_size / 1024:.0f} kB"
    return Markup('<a href="{}" target="_blank" rel="noopener">PDF</a> ({})').format(
        url, escape(size)
    )


def _rounded(model: Epreuve, attribute: str) -> str:
    value = getattr(model, attribute)
    return "—" if value is None else f"{value:.2f}"


class EpreuveAdmin(CatalogView, model=Epreuve):
    identity = "epreuve"
    name = "Épreuve"
    name_plural = "Épreuves"
    icon = "fa-solid fa-file-pdf"
    # Deleting is a soft delete, offered as an action (with restore) rather than sqladmin's
    # "permanently delete" modal.
    can_delete = False

    column_list: ClassVar[Any] = [
        Epreuve.id, Epreuve.title, Epreuve.filiere, Epreuve.niveau, Epreuve.type, Epreuve.annee,
        Epreuve.teacher_id, Epreuve.views, Epreuve.downloads, Epreuve.avg_difficulty,
        Epreuve.avg_relevance, Epreuve.is_active, Epreuve.file_size,
    ]  # fmt: skip
    column_details_list: ClassVar[Any] = [
        Epreuve.id, Epreuve.title, Epreuve.matiere, Epreuve.filiere, Epreuve.niveau,
        Epreuve.type, Epreuve.annee, Epreuve.teacher_id, Epreuve.description,
        Epreuve.original_filename, Epreuve.file_size, Epreuve.file_sha256, Epreuve.views,
        Epreuve.downloads, Epreuve.avg_difficulty, Epreuve.avg_relevance, Epreuve.evaluations,
        Epreuve.is_active, Epreuve.created_at, Epreuve.updated_at,
    ]  # fmt: skip
    column_labels: ClassVar[Any] = {
        "id": "#", "title": "Title", "niveau": "Niveau", "type": "Type", "views": "Views",
        "downloads": "Downloads", "evaluations": "Ratings", "description": "Description",
        "created_at": "Created", "updated_at": "Updated", "matiere": "Matière",
        "filiere": "Filière", "annee": "Année", "teacher_id": "Teacher",
        "avg_difficulty": "Difficulty", "avg_relevance": "Relevance", "is_active": "Active",
        "file_size": "File", "original_filename": "Uploaded as", "file_sha256": "SHA-256",
    }  # fmt: skip
    column_formatters: ClassVar[Any] = {
        Epreuve.teacher_id: _teacher,
        Epreuve.file_size: _pdf_link,
        Epreuve.avg_difficulty: _rounded,
        Epreuve.avg_relevance: _rounded,
    }
    column_formatters_detail = column_formatters
    column_searchable_list: ClassVar[Any] = [Epreuve.title, Epreuve.matiere, Epreuve.description]
    column_sortable_list: ClassVar[Any] = [
        Epreuve.id, Epreuve.title, Epreuve.annee, Epreuve.views, Epreuve.downloads,
        Epreuve.avg_difficulty, Epreuve.avg_relevance, Epreuve.evaluations,
    ]  # fmt: skip
    column_default_sort: ClassVar[Any] = [(Epreuve.created_at, True), (Epreuve.id, True)]
    column_filters: ClassVar[Any] = [
        codes_filter(Epreuve.filiere, Filiere, "Filière"),
        codes_filter(Epreuve.niveau, Niveau, "Niveau"),
        codes_filter(Epreuve.type, EpreuveType, "Type"),
        OperationColumnFilter(Epreuve.matiere, title="Matière"),
        OperationColumnFilter(Epreuve.annee, title="Année"),
        StaffFilter(Epreuve.teacher_id, User.full_name, foreign_model=User, title="Teacher"),
        BooleanFilter(Epreuve.is_active, title="Active"),
    ]

    form_columns: ClassVar[Any] = list(FIELDS)
    form_args: ClassVar[Any] = enum_field_args("filiere", "niveau", "type")

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        """The columns' fields (their validators from the model), then the PDF: a field
        declared here, after them, so that it comes last."""
        columns = await super().scaffold_form(rules)
        pdf = FileField("PDF", description="Checked by content; when editing, empty keeps it")
        return type("EpreuveForm", (columns,), {"file": pdf})

    def list_query(self, request: Request) -> Select[Any]:
        return super().list_query(request).options(selectinload(Epreuve.teacher))

    def details_query(self, request: Request) -> Select[Any]:
        return super().details_query(request).options(selectinload(Epreuve.teacher))

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        # The API's search: the trigram-indexed title + matière + description.
        return stmt.where(epreuves.SEARCH_TEXT.ilike(contains_pattern(term.strip())))

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Epreuve:
        upload = _uploaded(data)
        fields = _validated(EpreuveCreate, data)
        if upload is None:
            raise Invalid("Choose the PDF of the épreuve")
        settings = self.catalog.settings
        async with self.catalog.session() as session:
            teacher = await session.get(User, current_user(request).id)
            assert teacher is not None
            return await epreuves.create(
                session=session,
                teacher=teacher,
                data=fields,
                file=upload.file,
                filename=upload.filename,
                upload_root=settings.uploads_path,
                max_bytes=settings.max_upload_bytes,
            )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Epreuve:
        upload = _uploaded(data)
        changes = _validated(EpreuveUpdate, data)
        settings = self.catalog.settings
        async with self.catalog.session() as session:
            epreuve = await epreuves.get_active(session=session, epreuve_id=row_id(pk))
            epreuves.ensure_can_edit(current_user(request), epreuve)
            epreuve = await epreuves.update(session=session, epreuve=epreuve, data=changes)
            if upload is not None:
                epreuve = await epreuves.replace_file(
                    session=session,
                    epreuve=epreuve,
                    file=upload.file,
                    filename=upload.filename,
                    upload_root=settings.uploads_path,
                    max_bytes=settings.max_upload_bytes,
                )
            return epreuve

    @action(
        name="soft-delete",
        label="Soft-delete",
        confirmation_message="Hide the selected épreuves from the catalogue? Restore undoes it.",
    )
    async def soft_delete(self, request: Request) -> Response:
        count = await self._apply(request, active=True)
        return self.back_to_list(request, f"{count} épreuve(s) soft-deleted")

    @action(name="restore", label="Restore", confirmation_message="Restore the selected épreuves?")
    async def restore(self, request: Request) -> Response:
        count = await self._apply(request, active=False)
        return self.back_to_list(request, f"{count} épreuve(s) restored")

    async def _apply(self, request: Request, *, active: bool) -> int:
        """Soft-deletes (active=True) or restores the selected épreuves that are `active`;
        every row is checked first, so a refused one leaves all of them as they were."""
        user = current_user(request)
        async with self.catalog.session() as session:
            rows = [
                await epreuves.get_any(session=session, epreuve_id=pk)
                for pk in selected_ids(request)
            ]
            for epreuve in rows:
                epreuves.ensure_can_edit(user, epreuve)
            changed = [e for e in rows if e.is_active is active]
            for epreuve in changed:
                if active:
                    await epreuves.soft_delete(session=session, epreuve=epreuve)
                else:
                    await epreuves.restore(session=session, epreuve=epreuve)
        return len(changed)

    @expose("/pdf/{pk}", methods=["GET"])
    async def pdf(self, request: Request) -> Response:
        """The PDF, shown in the browser (`?download=1` to save it). Staff previews are not
        recorded as DOWNLOAD interactions: they would teach the recommender nothing."""
        async with self.catalog.session() as session:
            epreuve = await epreuves.get_any(
                session=session, epreuve_id=row_id(request.path_params["pk"])
            )
        if epreuve.file_path is None:
            raise NotFound("This épreuve has no file", code="file_not_found")
        name = storage.download_name(epreuve.title, epreuve.original_filename)
        disposition = "attachment" if request.query_params.get("download") else "inline"
        return FileResponse(
            storage.resolve(self.catalog.settings.uploads_path, epreuve.file_path),
            media_type="application/pdf",
            headers={"Content-Disposition": storage.content_disposition(name, disposition)},
        )
