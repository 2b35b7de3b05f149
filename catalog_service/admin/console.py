"""Builds the console and mounts it on the catalog app at /admin (`install(app)`)."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqladmin import Admin
from sqladmin.authentication import login_required
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from catalog_service.admin import csrf
from catalog_service.admin.auth import ConsoleAuth
from catalog_service.admin.context import Catalog, LifespanSessions
from catalog_service.admin.dashboard import DashboardPage
from catalog_service.admin.headers import SecurityHeaders
from catalog_service.admin.permissions import ConsolePermissions
from catalog_service.admin.recommender_page import RecommenderPage
from catalog_service.admin.views.activity import CommentAdmin, EvaluationAdmin, InteractionAdmin
from catalog_service.admin.views.epreuves import EpreuveAdmin
from catalog_service.admin.views.users import UserAdmin
from catalog_service.errors import DomainError

HERE = Path(__file__).parent
BASE_URL = "/admin"


class ConsoleAdmin(Admin):
    def __init__(self, app: FastAPI) -> None:
        self.catalog = Catalog(app)
        auth = ConsoleAuth(self.catalog)
        super().__init__(
            app,
            session_maker=LifespanSessions(self.catalog),
            base_url=BASE_URL,
            title="épreuves-reco",
            templates_dir=str(HERE / "templates"),
            middlewares=[Middleware(SecurityHeaders)],
            authentication_backend=auth,
            authorization_backend=ConsolePermissions(),
            # Our console.js beside sqladmin's own assets, all served from here.
            static_files_kwargs={"directory": str(HERE / "statics")},
        )
        auth.templates = self.templates
        self.templates.env.globals["csrf_token"] = csrf.token
        self.admin.add_exception_handler(DomainError, self._domain_error)

    @login_required
    async def index(self, request: Request) -> Response:
        return RedirectResponse(request.url_for("admin:view-dashboard"), status_code=302)

    @staticmethod
    async def _handle_form_data(request: Request, obj: Any = None) -> FormData:
        # sqladmin's version stands in a file object for an empty upload, which assumes file
        # columns; here an empty upload simply means "keep the current PDF".
        return await request.form()

    async def _domain_error(self, request: Request, exc: Exception) -> Response:
        """A service's refusal (403 not your paper, 404, 409, 422...) as the console's page."""
        assert isinstance(exc, DomainError)
        context = {"status_code": exc.status_code, "message": exc.message}
        return await self.templates.TemplateResponse(
            request, "sqladmin/error.html", context, status_code=exc.status_code
        )


def install(app: FastAPI) -> None:
    console = ConsoleAdmin(app)
    for view in (
        DashboardPage, EpreuveAdmin, UserAdmin, CommentAdmin, EvaluationAdmin, InteractionAdmin,
        RecommenderPage,
    ):  # fmt: skip
        console.add_view(view)
