"""GET, POST /v1/epreuves/{id}/comments · PATCH, DELETE /v1/comments/{id}."""

from __future__ import annotations

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from shared.enums import Role
from tests.catalog.conftest import MakeEpreuve, MakeUser


def _list_url(epreuve_id: int) -> str:
    return f"/v1/epreuves/{epreuve_id}/comments"


async def _post(
    client: httpx.AsyncClient, epreuve_id: int, headers: dict[str, str], content: str
) -> httpx.Response:
    return await client.post(_list_url(epreuve_id), json={"content": content}, headers=headers)


async def test_posting_a_comment_returns_it_with_the_author_name_only(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user(full_name="Awa Diop", email="awa@univ.example")

    response = await _post(client, epreuve.id, headers, "  Exercice 3 très dur.  ")

    assert response.status_code == 201
    body = response.json()
    assert body["content"] == "Exercice 3 très dur."
    assert body["author"] == {"full_name": "Awa Diop"}
    assert body["is_author"] is True
    assert body["epreuve_id"] == epreuve.id
    assert "awa@univ.example" not in response.text


async def test_list_is_newest_first_and_paginated(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    other_epreuve = await make_epreuve()
    _, author = await make_user(full_name="Awa Diop")
    _, reader = await make_user()
    for n in range(3):
        await _post(client, epreuve.id, author, f"comment {n}")
    await _post(client, other_epreuve.id, author, "elsewhere")

    first = await client.get(_list_url(epreuve.id), params={"limit": 2}, headers=reader)
    second = await client.get(
        _list_url(epreuve.id), params={"limit": 2, "offset": 2}, headers=reader
    )

    assert first.status_code == 200
    page = first.json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [c["content"] for c in page["items"]] == ["comment 2", "comment 1"]
    assert [c["is_author"] for c in page["items"]] == [False, False]
    assert [c["content"] for c in second.json()["items"]] == ["comment 0"]
    assert "email" not in first.text


async def test_author_edits_their_comment(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    created = (await _post(client, epreuve.id, headers, "first")).json()

    response = await client.patch(
        f"/v1/comments/{created['id']}", json={"content": "second"}, headers=headers
    )

    assert response.status_code == 200
    assert response.json()["content"] == "second"
    assert response.json()["updated_at"] > created["updated_at"]
    listed = (await client.get(_list_url(epreuve.id), headers=headers)).json()
    assert [c["content"] for c in listed["items"]] == ["second"]


async def test_another_student_may_neither_edit_nor_delete_a_comment(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, author = await make_user()
    _, other = await make_user()
    _, teacher = await make_user(Role.TEACHER)
    comment_id = (await _post(client, epreuve.id, author, "mine")).json()["id"]

    responses = [
        await client.patch(f"/v1/comments/{comment_id}", json={"content": "x"}, headers=other),
        await client.delete(f"/v1/comments/{comment_id}", headers=other),
        await client.delete(f"/v1/comments/{comment_id}", headers=teacher),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert {r.json()["code"] for r in responses} == {"forbidden"}
    listed = (await client.get(_list_url(epreuve.id), headers=author)).json()
    assert [c["content"] for c in listed["items"]] == ["mine"]


async def test_admin_edits_and_deletes_any_comment(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, author = await make_user()
    _, admin = await make_user(Role.ADMIN)
    comment_id = (await _post(client, epreuve.id, author, "rude")).json()["id"]

    edited = await client.patch(
        f"/v1/comments/{comment_id}", json={"content": "[modéré]"}, headers=admin
    )
    deleted = await client.delete(f"/v1/comments/{comment_id}", headers=admin)

    assert edited.status_code == 200
    assert edited.json()["is_author"] is False
    assert deleted.status_code == 204
    assert (await client.get(_list_url(epreuve.id), headers=author)).json()["total"] == 0


async def test_author_deletes_their_comment(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    comment_id = (await _post(client, epreuve.id, headers, "oops")).json()["id"]

    first = await client.delete(f"/v1/comments/{comment_id}", headers=headers)
    again = await client.delete(f"/v1/comments/{comment_id}", headers=headers)

    assert first.status_code == 204
    assert again.status_code == 404
    assert again.json()["code"] == "comment_not_found"


async def test_comments_need_a_token(client: httpx.AsyncClient, make_epreuve: MakeEpreuve) -> None:
    epreuve = await make_epreuve()

    responses = [
        await client.get(_list_url(epreuve.id)),
        await client.post(_list_url(epreuve.id), json={"content": "hi"}),
        await client.patch("/v1/comments/1", json={"content": "hi"}),
        await client.delete("/v1/comments/1"),
    ]

    assert [r.status_code for r in responses] == [401] * 4


async def test_blank_long_or_unknown_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    url = _list_url(epreuve.id)

    blank = await client.post(url, json={"content": "   "}, headers=headers)
    long = await client.post(url, json={"content": "x" * 2001}, headers=headers)
    missing = await client.post(url, json={}, headers=headers)
    extra = await client.post(url, json={"content": "ok", "author_id": 1}, headers=headers)
    longest = await client.post(url, json={"content": "x" * 2000}, headers=headers)

    assert [r.status_code for r in (blank, long, missing, extra)] == [422] * 4
    assert [r.json()["details"][0]["field"] for r in (blank, long, missing, extra)] == [
        "content",
        "content",
        "content",
        "author_id",
    ]
    assert longest.status_code == 201


async def test_unknown_or_deleted_epreuve_and_unknown_comment_are_404(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    comment_id = (await _post(client, epreuve.id, headers, "before deletion")).json()["id"]
    await session.execute(update(Epreuve).where(Epreuve.id == epreuve.id).values(is_active=False))
    await session.commit()

    responses = [
        await client.get(_list_url(999_999), headers=headers),
        await client.post(_list_url(999_999), json={"content": "hi"}, headers=headers),
        await client.get(_list_url(epreuve.id), headers=headers),
        await client.patch(f"/v1/comments/{comment_id}", json={"content": "x"}, headers=headers),
        await client.patch("/v1/comments/999999", json={"content": "x"}, headers=headers),
        await client.delete("/v1/comments/999999", headers=headers),
    ]

    assert [r.status_code for r in responses] == [404] * 6
    assert [r.json()["code"] for r in responses] == ["epreuve_not_found"] * 3 + [
        "comment_not_found"
    ] * 3


async def test_a_comment_id_outside_bigint_is_422_not_500(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, headers = await make_user()

    response = await client.patch(f"/v1/comments/{2**63}", json={"content": "x"}, headers=headers)

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "comment_id"
