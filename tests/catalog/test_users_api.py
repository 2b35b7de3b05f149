"""/v1/users: own profile and history; admin list, read, update, deactivate."""

import httpx
from sqlalchemy import select

from catalog_service.interactions.service import record_interaction
from catalog_service.outbox.models import OutboxEvent
from catalog_service.users.models import User
from shared.enums import InteractionKind, Role
from tests.catalog.conftest import DEFAULT_PASSWORD


async def _events(session, type_: str) -> list[dict]:
    rows = await session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
    )
    return [r.payload for r in rows]


async def test_me_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_me_returns_own_profile(client: httpx.AsyncClient, make_user) -> None:
    user, headers = await make_user(email="sara@univ.example", full_name="Sara")
    body = (await client.get("/v1/users/me", headers=headers)).json()
    assert (body["id"], body["email"], body["full_name"]) == (user.id, "sara@univ.example", "Sara")


async def test_patch_me_changes_niveau_and_emits_event(
    client: httpx.AsyncClient, make_user, session
) -> None:
    user, headers = await make_user()
    response = await client.patch("/v1/users/me", json={"niveau": "L3"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["niveau"] == "L3"
    assert (await _events(session, "user.upserted"))[-1] == {
        "id": user.id, "niveau": "L3", "filiere": "MATH", "role": "student", "is_active": True,
    }  # fmt: skip


async def test_patch_me_cannot_change_role(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user()
    response = await client.patch("/v1/users/me", json={"role": "admin"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "role"


async def test_patch_me_with_invalid_filiere_is_422(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user()
    response = await client.patch("/v1/users/me", json={"filiere": "BIO"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "filiere"


async def test_password_change_with_current_password_allows_new_login(
    client: httpx.AsyncClient, make_user
) -> None:
    _, headers = await make_user(email="sara@univ.example")
    change = {"current_password": DEFAULT_PASSWORD, "password": "a brand new password"}
    assert (await client.patch("/v1/users/me", json=change, headers=headers)).status_code == 200
    form = {"username": "sara@univ.example", "password": "a brand new password"}
    assert (await client.post("/v1/auth/token", data=form)).status_code == 200
    old = {"username": "sara@univ.example", "password": DEFAULT_PASSWORD}
    assert (await client.post("/v1/auth/token", data=old)).status_code == 401


async def test_password_change_with_wrong_current_password_is_400(
    client: httpx.AsyncClient, make_user
) -> None:
    _, headers = await make_user()
    change = {"current_password": "not it at all", "password": "a brand new password"}
    response = await client.patch("/v1/users/me", json=change, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "wrong_password"


async def test_my_interactions_lists_only_mine_newest_first_and_filters_by_kind(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    me, headers = await make_user()
    other, _ = await make_user()
    epreuve = await make_epreuve()
    for user, kind in [
        (me, InteractionKind.VIEW),
        (other, InteractionKind.VIEW),
        (me, InteractionKind.DOWNLOAD),
        (me, InteractionKind.VIEW),
    ]:
        await record_interaction(session=session, user=user, epreuve_id=epreuve.id, kind=kind)
    page = (await client.get("/v1/users/me/interactions", headers=headers)).json()
    assert page["total"] == 3
    assert [i["kind"] for i in page["items"]] == ["VIEW", "DOWNLOAD", "VIEW"]
    assert {i["user_id"] for i in page["items"]} == {me.id}
    views = await client.get(
        "/v1/users/me/interactions", params={"kind": "DOWNLOAD", "limit": 1}, headers=headers
    )
    assert (views.json()["total"], views.json()["limit"]) == (1, 1)


async def test_my_interactions_with_bad_kind_is_422(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user()
    response = await client.get(
        "/v1/users/me/interactions", params={"kind": "LIKE"}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "kind"


async def test_admin_lists_users_with_filters(client: httpx.AsyncClient, make_user) -> None:
    _, admin = await make_user(Role.ADMIN, niveau=None, filiere=None)
    await make_user(Role.TEACHER, niveau=None, full_name="Prof Ndiaye")
    await make_user(niveau=None, full_name="Student A")
    await make_user(full_name="Student B")
    everyone = (await client.get("/v1/users", headers=admin)).json()
    assert everyone["total"] == 4
    students = await client.get("/v1/users", params={"role": "student"}, headers=admin)
    assert [u["full_name"] for u in students.json()["items"]] == ["Student A", "Student B"]
    by_name = await client.get("/v1/users", params={"q": "ndiaye"}, headers=admin)
    assert [u["full_name"] for u in by_name.json()["items"]] == ["Prof Ndiaye"]
    paged = await client.get("/v1/users", params={"limit": 2, "offset": 2}, headers=admin)
    assert (paged.json()["total"], len(paged.json()["items"])) == (4, 2)


async def test_students_and_teachers_cannot_list_users(
    client: httpx.AsyncClient, make_user
) -> None:
    _, student = await make_user()
    _, teacher = await make_user(Role.TEACHER)
    for headers in (student, teacher):
        response = await client.get("/v1/users", headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"


async def test_admin_reads_a_user_and_unknown_id_is_404(
    client: httpx.AsyncClient, make_user
) -> None:
    _, admin = await make_user(Role.ADMIN)
    user, _ = await make_user(email="lea@univ.example")
    assert (await client.get(f"/v1/users/{user.id}", headers=admin)).json()["email"] == (
        "lea@univ.example"
    )
    missing = await client.get("/v1/users/999999", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"


async def test_student_cannot_read_another_user(client: httpx.AsyncClient, make_user) -> None:
    other, _ = await make_user()
    _, headers = await make_user()
    assert (await client.get(f"/v1/users/{other.id}", headers=headers)).status_code == 403


async def test_admin_promotes_a_user_to_teacher(
    client: httpx.AsyncClient, make_user, session
) -> None:
    _, admin = await make_user(Role.ADMIN)
    user, _ = await make_user()
    response = await client.patch(f"/v1/users/{user.id}", json={"role": "teacher"}, headers=admin)
    assert response.json()["role"] == "teacher"
    assert (await _events(session, "user.upserted"))[-1]["role"] == "teacher"


async def test_admin_patch_with_bad_role_is_422(client: httpx.AsyncClient, make_user) -> None:
    _, admin = await make_user(Role.ADMIN)
    user, _ = await make_user()
    response = await client.patch(f"/v1/users/{user.id}", json={"role": "god"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "role"


async def test_admin_patch_unknown_user_is_404(client: httpx.AsyncClient, make_user) -> None:
    _, admin = await make_user(Role.ADMIN)
    response = await client.patch("/v1/users/424242", json={"role": "teacher"}, headers=admin)
    assert response.status_code == 404


async def test_admin_cannot_demote_themself(client: httpx.AsyncClient, make_user) -> None:
    me, admin = await make_user(Role.ADMIN)
    response = await client.patch(f"/v1/users/{me.id}", json={"role": "student"}, headers=admin)
    assert response.status_code == 409


async def test_teacher_cannot_patch_users(client: httpx.AsyncClient, make_user) -> None:
    user, _ = await make_user()
    _, teacher = await make_user(Role.TEACHER)
    response = await client.patch(f"/v1/users/{user.id}", json={"role": "admin"}, headers=teacher)
    assert response.status_code == 403


async def test_deactivation_blocks_the_user_and_emits_user_deleted(
    client: httpx.AsyncClient, make_user, session
) -> None:
    _, admin = await make_user(Role.ADMIN)
    user, headers = await make_user(email="bye@univ.example")
    assert (await client.delete(f"/v1/users/{user.id}", headers=admin)).status_code == 204
    assert (await client.get("/v1/users/me", headers=headers)).status_code == 401
    form = {"username": "bye@univ.example", "password": DEFAULT_PASSWORD}
    assert (await client.post("/v1/auth/token", data=form)).status_code == 401
    assert await _events(session, "user.deleted") == [{"id": user.id}]
    row = await session.scalar(select(User).where(User.id == user.id))
    assert row is not None and row.is_active is False


async def test_deactivating_unknown_user_is_404(client: httpx.AsyncClient, make_user) -> None:
    _, admin = await make_user(Role.ADMIN)
    assert (await client.delete("/v1/users/31337", headers=admin)).status_code == 404


async def test_admin_cannot_deactivate_themself(client: httpx.AsyncClient, make_user) -> None:
    me, admin = await make_user(Role.ADMIN)
    assert (await client.delete(f"/v1/users/{me.id}", headers=admin)).status_code == 409


async def test_student_cannot_deactivate_users(client: httpx.AsyncClient, make_user) -> None:
    other, _ = await make_user()
    _, headers = await make_user()
    assert (await client.delete(f"/v1/users/{other.id}", headers=headers)).status_code == 403
