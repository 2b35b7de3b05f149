"""The console's other pages: who sees what, Users, Comments, the Dashboard, the Recommender
page with the recommender away, and /docs served offline under a strict CSP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.comments.models import Comment
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.models import OutboxEvent
from catalog_service.stats import service as stats
from catalog_service.users.models import User
from shared.enums import InteractionKind, Role
from tests.catalog.conftest import MakeEpreuve, MakeUser
from tests.catalog.console import login, token
from tests.e2e.servers import free_port


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # Nothing listens there: the recommender is away for this module.
    return {"recommender_url": f"http://127.0.0.1:{free_port()}", "recommender_timeout_s": 0.5}


async def test_teachers_see_the_catalogue_and_the_dashboard_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    await login(client, teacher.email)
    allowed = ("/admin/epreuve/list", "/admin/epreuve/create", "/admin/dashboard")
    refused = (
        "/admin/user/list", "/admin/comment/list", "/admin/evaluation/list",
        "/admin/interaction/list", "/admin/recommender",
    )  # fmt: skip
    assert [(await client.get(p)).status_code for p in allowed] == [200, 200, 200]
    assert [(await client.get(p)).status_code for p in refused] == [403] * len(refused)
    menu = (await client.get("/admin/epreuve/list")).text
    assert "/admin/epreuve/list" in menu and "/admin/user/list" not in menu


async def test_admins_see_every_page(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await login(client, admin.email)
    pages = (
        "/admin/epreuve/list", "/admin/user/list", "/admin/comment/list",
        "/admin/evaluation/list", "/admin/interaction/list", "/admin/dashboard",
        "/admin/recommender",
    )  # fmt: skip
    assert [(await client.get(p)).status_code for p in pages] == [200] * len(pages)
    assert (await client.get("/admin/")).headers["location"] == "http://test/admin/dashboard"


async def test_user_pages_never_show_password_hashes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    student, _ = await make_user(Role.STUDENT)
    await login(client, admin.email)
    for path in ("/admin/user/list", f"/admin/user/details/{student.id}",
                 f"/admin/user/edit/{student.id}"):  # fmt: skip
        page = await client.get(path)
        assert page.status_code == 200
        assert "argon2" not in page.text and "password" not in page.text.lower()


async def test_an_admin_edits_a_role_and_the_event_follows(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    student, _ = await make_user(Role.STUDENT)
    await login(client, admin.email)
    edit = await client.get(f"/admin/user/edit/{student.id}")
    assert re.search(
        r'<option selected value="student">|<option value="student" selected', edit.text
    )
    saved = await client.post(
        f"/admin/user/edit/{student.id}",
        data={"full_name": "Awa Diop", "role": "teacher", "niveau": "", "filiere": "INFO",
              "save": "Save", "csrf_token": await token(client)},
    )  # fmt: skip
    assert saved.status_code == 302, saved.text
    row = await session.get(User, student.id)
    assert row is not None
    await session.refresh(row)
    assert (row.full_name, row.role, row.niveau, row.filiere) == (
        "Awa Diop",
        Role.TEACHER,
        None,
        "INFO",
    )
    last = await session.scalar(select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(1))
    assert last is not None and last.type == "user.upserted"
    assert (last.payload["id"], last.payload["niveau"], last.payload["filiere"]) == (
        student.id, None, "INFO",
    )  # fmt: skip


async def test_deactivate_and_reactivate_go_through_the_users_service(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    a, _ = await make_user(Role.STUDENT)
    b, _ = await make_user(Role.STUDENT)
    await login(client, admin.email)
    csrf = await token(client)
    off = await client.get(
        "/admin/user/action/deactivate", params={"pks": f"{a.id},{b.id}", "csrf_token": csrf}
    )
    assert off.status_code == 302
    on = await client.get(
        "/admin/user/action/reactivate", params={"pks": str(b.id), "csrf_token": csrf}
    )
    assert on.status_code == 302
    actives = await session.execute(
        select(User.id, User.is_active).where(User.id.in_((a.id, b.id))).order_by(User.id)
    )
    assert actives.all() == [(a.id, False), (b.id, True)]
    events = await session.execute(
        select(OutboxEvent.type, OutboxEvent.payload["id"].as_integer())
        .where(OutboxEvent.type.in_(("user.deleted", "user.upserted")))
        .order_by(OutboxEvent.id.desc())
        .limit(3)
    )
    assert events.all() == [("user.upserted", b.id), ("user.deleted", b.id), ("user.deleted", a.id)]
    # The service's rule: an admin cannot deactivate themself.
    self_off = await client.get(
        "/admin/user/action/deactivate", params={"pks": str(admin.id), "csrf_token": csrf}
    )
    assert self_off.status_code == 409
    assert "Admins cannot deactivate themselves" in self_off.text


async def test_comments_are_moderated_by_bulk_delete(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    _, student = await make_user(Role.STUDENT)
    epreuve = await make_epreuve()
    ids = []
    for text in ("spam", "more spam", "useful"):
        posted = await client.post(
            f"/v1/epreuves/{epreuve.id}/comments", json={"content": text}, headers=student
        )
        ids.append(posted.json()["id"])
    await login(client, admin.email)
    url = await client.delete(
        "/admin/comment/delete",
        params={"pks": f"{ids[0]},{ids[1]}"},
        headers={"X-CSRF-Token": await token(client)},
    )
    assert url.status_code == 200
    assert "error" not in url.text
    left = await session.scalars(select(Comment.content).order_by(Comment.id))
    assert left.all() == ["useful"]
    without_token = await client.delete("/admin/comment/delete", params={"pks": str(ids[2])})
    assert without_token.status_code == 403
    assert await session.scalar(select(func.count()).select_from(Comment)) == 1


async def test_the_dashboard_counts_and_says_the_recommender_is_away(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    _, student = await make_user(Role.STUDENT)
    epreuve = await make_epreuve(title="Partiel très vu")
    for _ in range(3):
        assert (await client.get(f"/v1/epreuves/{epreuve.id}", headers=student)).status_code == 200
    await login(client, admin.email)
    page = await client.get("/admin/dashboard")
    assert page.status_code == 200
    assert re.search(r'data-stat="Interactions">3<', page.text)
    assert re.search(r'data-stat="Épreuves">1<', page.text)
    assert "Partiel très vu" in page.text
    assert "The recommender is unavailable" in page.text
    chart = await client.get("/admin/dashboard/interactions.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.content.lstrip().startswith(b"<?xml") and b"<svg" in chart.content


async def test_interactions_per_day_counts_each_utc_day_with_zeros(
    app: FastAPI, session: AsyncSession, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    user, _ = await make_user(Role.STUDENT)
    epreuve = await make_epreuve()
    now = datetime.now(UTC)
    for days_ago in (0, 0, 2, 40):
        session.add(
            Interaction(user_id=user.id, epreuve_id=epreuve.id, kind=InteractionKind.VIEW,
                        created_at=now - timedelta(days=days_ago))
        )  # fmt: skip
    await session.commit()
    per_day = await stats.interactions_per_day(session=session, days=5)
    today = now.date()
    assert per_day == [
        (today - timedelta(days=d), n) for d, n in ((4, 0), (3, 0), (2, 1), (1, 0), (0, 2))
    ]


async def test_the_recommender_page_says_it_is_away_and_the_console_goes_on(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await login(client, admin.email)
    page = await client.get("/admin/recommender")
    assert page.status_code == 200
    assert "The recommender is unavailable" in page.text
    forged = await client.post("/admin/recommender/train", data={"model": "gmf"})
    assert forged.status_code == 403
    train = await client.post("/admin/recommender/train", data={"csrf_token": await token(client)})
    assert (train.status_code, train.headers["location"]) == (303, "http://test/admin/recommender")
    assert "The recommender is unavailable" in (await client.get("/admin/recommender")).text
    assert (await client.get("/admin/epreuve/list")).status_code == 200


async def test_console_pages_carry_a_strict_content_security_policy(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    page = await client.get("/admin/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert not re.search(r"<script>(?!\s*</script>)", page.text)  # no inline script


async def test_docs_render_from_local_assets_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "content-security-policy" in page.headers
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "unsafe" not in policy
    assert "cdn" not in page.text and "https://" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [
        "/docs/static/favicon.png", "/docs/static/swagger-init.js",
        "/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css",
    ]  # fmt: skip
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
    assert (await client.get("/redoc")).status_code == 404
