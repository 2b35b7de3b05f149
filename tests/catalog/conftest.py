"""Catalog fixtures: the app on the test database and Redis, an HTTP client, data factories.

- `settings_overrides` (override it in a test module, or parametrize it indirectly) → extra
  Settings fields, e.g. `{"outbox_relay_enabled": True, "events_stream": "..."}`.
- `settings`: catalog Settings on `database_url` / `redis_url`, uploads under `tmp_path`,
  the relay off, a fixed JWT secret and service key (`SERVICE_KEY`).
- `app`: `create_app(settings)` whose lifespan runs for the test (app.state.sessionmaker,
  app.state.redis, app.state.engine are live).
- `client`: httpx.AsyncClient on the app through ASGITransport (base_url http://test).
- `session`: an AsyncSession of the app's sessionmaker, for arranging and asserting in SQL.
- `make_user(role=..., niveau=..., filiere=..., email=..., password=..., full_name=...)` →
  `(User, {"Authorization": "Bearer <access token>"})`, created through the users service
  (so its `user.upserted` outbox row exists, like a real registration).
- `make_epreuve(teacher=None, **fields)` → Epreuve created through the épreuves service with
  the `pdf_bytes` file (a teacher is created when none is given).
- `pdf_bytes`: a tiny valid one-page PDF (`one_page_pdf()` makes others).
- `site`: the app served by uvicorn on loopback (its URL); `tab`: a headless Chromium tab on
  it (tests/browser.py), for the browser tests.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfWriter
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.auth.passwords import hash_password_sync
from catalog_service.auth.tokens import TokenType
from catalog_service.config import Settings
from catalog_service.epreuves import service as epreuves_service
from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import EpreuveCreate
from catalog_service.main import create_app
from catalog_service.users.models import User
from catalog_service.users.schemas import UserCreate
from catalog_service.users.service import create_user
from shared.enums import EpreuveType, Filiere, Niveau, Role
from tests.browser import Tab, open_tab
from tests.conftest import asgi_client
from tests.e2e.servers import Server

JWT_SECRET = "test-jwt-secret-0123456789abcdef"
SERVICE_KEY = "test-service-key"
DEFAULT_PASSWORD = "password-123"
# argon2 costs ~0.1 s: hash the factories' default password once per session.
_DEFAULT_HASH = hash_password_sync(DEFAULT_PASSWORD)


def one_page_pdf(*, width: float = 595, padding: int = 0) -> bytes:
    """A valid one-page A4-high PDF written by pypdf, `padding` bytes of metadata larger."""
    writer = PdfWriter()
    writer.add_blank_page(width, 842)
    if padding:
        writer.add_metadata({"/Padding": "0" * padding})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF_BYTES = one_page_pdf()


class MakeUser(Protocol):
    def __call__(
        self,
        role: Role = ...,
        *,
        niveau: Niveau | None = ...,
        filiere: Filiere | None = ...,
        email: str | None = ...,
        password: str = ...,
        full_name: str | None = ...,
    ) -> Awaitable[tuple[User, dict[str, str]]]: ...


@pytest.fixture
def pdf_bytes() -> bytes:
    """A minimal PDF that passes the upload checks (it parses, with one page)."""
    return PDF_BYTES


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra Settings fields for this test: override the fixture in a module, or parametrize
    it indirectly (`@pytest.mark.parametrize("settings_overrides", [{...}], indirect=True)`)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def settings(
    database_url: str, redis_url: str, tmp_path: Path, settings_overrides: dict[str, Any]
) -> Settings:
    """Settings on the test servers; relay off unless `settings_overrides` turns it on."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "jwt_secret": JWT_SECRET,
        "service_api_key": SERVICE_KEY,
        "data_dir": tmp_path,
        "upload_dir": tmp_path / "uploads",
        "outbox_relay_enabled": False,
        "first_admin_email": None,
        "first_admin_password": None,
        "db_pool_size": 5,
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The catalog app with its lifespan running (engine, Redis, relay when enabled)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app (no socket): `await client.get("/v1/epreuves", headers=...)`."""
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session on the test database, for arranging data and asserting in SQL."""
    async with app.state.sessionmaker() as db:
        yield db


def auth_headers(app: FastAPI, user: User) -> dict[str, str]:
    """Bearer header with a fresh access token for `user` (at their current token version)."""
    token = app.state.token_signer.issue(user.id, TokenType.ACCESS, version=user.token_version)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_user(app: FastAPI) -> MakeUser:
    """Factory: `user, headers = await make_user(Role.TEACHER, niveau=..., filiere=...)`."""
    counter = 0

    async def factory(
        role: Role = Role.STUDENT,
        *,
        niveau: Niveau | None = Niveau.L2,
        filiere: Filiere | None = Filiere.MATH,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        full_name: str | None = None,
    ) -> tuple[User, dict[str, str]]:
        nonlocal counter
        counter += 1
        data = UserCreate(
            email=email or f"{role.value}{counter}@univ.example",
            password=password,
            full_name=full_name or f"{role.value.title()} {counter}",
            role=role,
            niveau=niveau,
            filiere=filiere,
        )
        hashed = _DEFAULT_HASH if password == DEFAULT_PASSWORD else None
        async with app.state.sessionmaker() as db:
            user = await create_user(session=db, data=data, password_hash=hashed)
        return user, auth_headers(app, user)

    return factory


MakeEpreuve = Callable[..., Awaitable[Epreuve]]


@pytest.fixture
def make_epreuve(app: FastAPI, make_user: MakeUser, pdf_bytes: bytes) -> MakeEpreuve:
    """Factory: `await make_epreuve(teacher=None, title=..., niveau=..., ...)` → Epreuve.

    Defaults: "Partiel d'analyse", Analyse, MATH, L2, PARTIEL, 2024, with `pdf_bytes` as file.
    """

    async def factory(teacher: User | None = None, **fields: Any) -> Epreuve:
        if teacher is None:
            teacher, _ = await make_user(Role.TEACHER, niveau=None)
        values: dict[str, Any] = {
            "title": "Partiel d'analyse",
            "matiere": "Analyse",
            "filiere": Filiere.MATH,
            "niveau": Niveau.L2,
            "type": EpreuveType.PARTIEL,
            "annee": 2024,
            "description": "",
        }
        values.update(fields)
        settings: Settings = app.state.settings
        async with app.state.sessionmaker() as db:
            return await epreuves_service.create(
                session=db,
                teacher=teacher,
                data=EpreuveCreate(**values),
                file=io.BytesIO(pdf_bytes),
                filename="sujet.pdf",
                upload_root=settings.uploads_path,
                max_bytes=settings.max_upload_bytes,
            )

    return factory


@pytest.fixture
async def site(app: FastAPI) -> AsyncIterator[str]:
    """The catalog on a loopback port (the `app` fixture already runs its lifespan)."""
    server = await Server(app, lifespan="off").start()
    try:
        yield server.url
    finally:
        await server.stop()


@pytest.fixture
async def tab(chromium: Any, site: str) -> AsyncIterator[Tab]:
    """A fresh browser context on `site` (cookies of its own)."""
    async with open_tab(chromium, site) as opened:
        yield opened
