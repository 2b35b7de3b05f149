"""The console's Épreuves page: the same service path as the API (validation, storage, outbox
events), the ownership rule for teachers, and CSRF on its forms and actions."""

from __future__ import annotations

import html
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.outbox.models import OutboxEvent
from shared.enums import Role
from tests.catalog.conftest import MakeEpreuve, MakeUser
from tests.catalog.console import epreuve_form, login, token


async def _events(session: AsyncSession, after: int = 0) -> list[tuple[str, dict]]:
    rows = await session.execute(
        select(OutboxEvent.type, OutboxEvent.payload)
        .where(OutboxEvent.id > after)
        .order_by(OutboxEvent.id)
    )
    return [(t, p) for t, p in rows.all()]


async def _last_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0))) or 0)


async def _edit(
    client: httpx.AsyncClient, epreuve_id: int, csrf: str | None, **fields: str
) -> httpx.Response:
    """Saves the edit form of an épreuve, with no new PDF (and no token when `csrf` is None)."""
    data = epreuve_form(**fields) | ({"csrf_token": csrf} if csrf else {})
    return await client.post(
        f"/admin/epreuve/edit/{epreuve_id}",
        data=data,
        files={"file": ("", b"", "application/octet-stream")},
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def _row(session: AsyncSession, epreuve_id: int) -> Epreuve:
    session.expire_all()
    row = await session.get(Epreuve, epreuve_id)
    assert row is not None
    return row


async def test_a_console_edit_emits_the_same_event_as_the_api(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    admin, headers = await make_user(Role.ADMIN)
    by_api, by_console = await make_epreuve(), await make_epreuve()
    start = await _last_event_id(session)
    patched = await client.patch(
        f"/v1/epreuves/{by_api.id}", json={"title": "Analyse 2", "annee": 2023}, headers=headers
    )
    assert patched.status_code == 200
    await login(client, admin.email)
    edited = await _edit(
        client, by_console.id, await token(client), title="Analyse 2", annee="2023"
    )
    assert edited.status_code == 302, edited.text
    events = await _events(session, start)
    assert [t for t, _ in events] == ["epreuve.upserted", "epreuve.upserted"]
    (_, api_payload), (_, console_payload) = events
    assert console_payload == {**api_payload, "id": by_console.id}
    assert console_payload["title"] == "Analyse 2" and console_payload["annee"] == 2023
    row = await _row(session, by_console.id)
    assert (row.title, row.annee, row.file_sha256) == ("Analyse 2", 2023, by_console.file_sha256)


async def test_a_console_upload_is_stored_and_published_like_the_apis(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    pdf_bytes: bytes,
    app: FastAPI,
) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    await login(client, teacher.email)
    start = await _last_event_id(session)
    created = await client.post(
        "/admin/epreuve/create",
        data=epreuve_form(title="Examen de topologie", csrf_token=await token(client)),
        files={"file": ("topo.pdf", pdf_bytes, "application/pdf")},
    )
    assert created.status_code == 302, created.text
    row = await session.scalar(select(Epreuve).where(Epreuve.title == "Examen de topologie"))
    assert row is not None
    assert (row.teacher_id, row.original_filename, row.file_size) == (
        teacher.id,
        "topo.pdf",
        len(pdf_bytes),
    )
    assert row.file_path is not None
    stored = Path(app.state.settings.uploads_path) / row.file_path
    assert stored.read_bytes() == pdf_bytes
    assert [(t, p["id"], p["title"]) for t, p in await _events(session, start)] == [
        ("epreuve.upserted", row.id, "Examen de topologie")
    ]
    preview = await client.get(f"/admin/epreuve/pdf/{row.id}")
    assert preview.status_code == 200
    assert (preview.content, preview.headers["content-type"]) == (pdf_bytes, "application/pdf")
    assert preview.headers["content-disposition"].startswith("inline; ")


async def test_a_console_upload_that_is_no_pdf_is_refused_and_leaves_nothing(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, app: FastAPI
) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    await login(client, teacher.email)
    start = await _last_event_id(session)
    refused = await client.post(
        "/admin/epreuve/create",
        data=epreuve_form(csrf_token=await token(client)),
        files={"file": ("sujet.pdf", b"GIF89a not a pdf", "application/pdf")},
    )
    assert refused.status_code == 400
    assert "The file is not a PDF document" in refused.text
    assert await session.scalar(select(func.count()).select_from(Epreuve)) == 0
    assert await _events(session, start) == []
    assert _files(Path(app.state.settings.uploads_path)) == []


async def test_a_console_create_without_a_pdf_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    await login(client, teacher.email)
    refused = await client.post(
        "/admin/epreuve/create",
        data=epreuve_form(csrf_token=await token(client)),
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert refused.status_code == 400
    assert "Choose the PDF" in refused.text
    assert await session.scalar(select(func.count()).select_from(Epreuve)) == 0


async def test_a_teacher_cannot_edit_another_teachers_paper(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    own, others = await make_epreuve(teacher=teacher), await make_epreuve()
    await login(client, teacher.email)
    csrf = await token(client)
    assert (await client.get(f"/admin/epreuve/edit/{others.id}")).status_code == 403
    start = await _last_event_id(session)
    refused = await _edit(client, others.id, csrf, title="Mine now")
    assert refused.status_code == 403
    action = await client.get(
        "/admin/epreuve/action/soft-delete", params={"pks": str(others.id), "csrf_token": csrf}
    )
    assert action.status_code == 403
    assert "Only the épreuve's teacher or an admin may change it" in html.unescape(action.text)
    row = await _row(session, others.id)
    assert (row.title, row.is_active) == ("Partiel d'analyse", True)
    assert await _events(session, start) == []
    # Their own paper: the edit goes through.
    allowed = await _edit(client, own.id, csrf, title="Mine")
    assert allowed.status_code == 302
    assert (await _row(session, own.id)).title == "Mine"


async def test_the_list_shows_a_teacher_edit_buttons_on_their_own_papers_only(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    own, others = await make_epreuve(teacher=teacher), await make_epreuve()
    await login(client, teacher.email)
    page = await client.get("/admin/epreuve/list")
    assert page.status_code == 200
    assert f"/admin/epreuve/edit/{own.id}" in page.text
    assert f"/admin/epreuve/edit/{others.id}" not in page.text


async def test_an_edit_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    epreuve = await make_epreuve()
    await login(client, admin.email)
    start = await _last_event_id(session)
    for token_value in (None, "forged-token"):
        refused = await _edit(client, epreuve.id, token_value, title="Forged")
        assert refused.status_code == 403
    action = await client.get("/admin/epreuve/action/soft-delete", params={"pks": epreuve.id})
    assert action.status_code == 403
    row = await _row(session, epreuve.id)
    assert (row.title, row.is_active) == ("Partiel d'analyse", True)
    assert await _events(session, start) == []


async def test_soft_delete_and_restore_are_bulk_actions_with_their_events(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    first, second = await make_epreuve(), await make_epreuve()
    await login(client, admin.email)
    csrf = await token(client)
    start = await _last_event_id(session)
    pks = f"{first.id},{second.id}"
    deleted = await client.get(
        "/admin/epreuve/action/soft-delete", params={"pks": pks, "csrf_token": csrf}
    )
    assert (deleted.status_code, deleted.headers["location"]) == (
        302,
        "http://test/admin/epreuve/list",
    )
    assert [(await _row(session, e.id)).is_active for e in (first, second)] == [False, False]
    restored = await client.get(
        "/admin/epreuve/action/restore", params={"pks": str(first.id), "csrf_token": csrf}
    )
    assert restored.status_code == 302
    assert (await _row(session, first.id)).is_active is True
    events = await _events(session, start)
    assert [(t, p["id"]) for t, p in events] == [
        ("epreuve.deleted", first.id),
        ("epreuve.deleted", second.id),
        ("epreuve.upserted", first.id),
    ]
    assert events[-1][1]["is_active"] is True


async def test_the_list_filters_searches_and_orders(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await make_epreuve(title="Algèbre 100%", matiere="Algèbre", niveau="L1", annee=2022)
    await make_epreuve(title="Optique", matiere="Optique", filiere="PHYSIQUE")
    await make_epreuve(title="Analyse", annee=2019)
    await login(client, admin.email)

    async def titles(**params: str) -> list[str]:
        page = await client.get("/admin/epreuve/list", params=params)
        assert page.status_code == 200, page.text
        shown = [t for t in ("Algèbre 100%", "Optique", "Analyse") if f">{t}<" in page.text]
        return sorted(shown, key=lambda t: page.text.index(f">{t}<"))  # in the page's order

    assert await titles(filiere="PHYSIQUE") == ["Optique"]
    assert await titles(niveau="L1") == ["Algèbre 100%"]
    assert await titles(annee="2019", annee_op="equals") == ["Analyse"]
    assert await titles(search="100%") == ["Algèbre 100%"]
    assert await titles(search="0%") == ["Algèbre 100%"]
    assert await titles(search="%") == ["Algèbre 100%"]  # the user's % matches itself
    assert await titles(sortBy="annee", sort="asc") == ["Analyse", "Algèbre 100%", "Optique"]
    assert await titles(sortBy="annee", sort="desc") == ["Optique", "Algèbre 100%", "Analyse"]
