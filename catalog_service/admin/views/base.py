"""What every model page of the console shares: the catalog it works on, search, paging."""

from typing import Any, ClassVar

from pydantic import ValidationError
from sqladmin import ModelView
from sqladmin.flash import Flash
from sqlalchemy import Select, String, cast, or_
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from catalog_service.admin.context import Catalog
from catalog_service.errors import Invalid, NotFound
from catalog_service.text_search import contains_pattern


def invalid(exc: ValidationError) -> Invalid:
    """The schema's complaint, one line per field, shown above the form."""
    lines = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()]
    return Invalid("; ".join(lines))


def row_id(pk: str) -> int:
    """A row id from the URL; anything but a number names no row."""
    try:
        return int(pk)
    except ValueError:
        raise NotFound(f"No row {pk!r}") from None


def selected_ids(request: Request) -> list[int]:
    """The `pks` of a bulk action, as ids (anything else is a 422)."""
    try:
        return [int(pk) for pk in request.query_params.get("pks", "").split(",") if pk]
    except ValueError:
        raise Invalid("pks must be a comma-separated list of ids") from None


class CatalogView(ModelView):
    page_size = 25
    page_size_options: ClassVar[list[int]] = [25, 50, 100]
    can_export = False

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self._admin_ref.catalog  # type: ignore[attr-defined]
        return catalog

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        # The API's pattern rule: the user's %, _ and \ match themselves.
        pattern = contains_pattern(term.strip())
        columns = [getattr(self.model, name) for name in self._search_fields]
        return stmt.where(or_(*(cast(c, String).ilike(pattern) for c in columns)))

    def back_to_list(self, request: Request, message: str) -> Response:
        Flash.success(request, message)
        return RedirectResponse(request.url_for("admin:list", identity=self.identity), 302)
