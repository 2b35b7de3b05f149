"""/v1/epreuves: list, filter, search, order, popular, read (VIEW), create, edit, delete."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from catalog_service.epreuves.models import Epreuve
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.models import OutboxEvent
from shared.enums import EpreuveType, Filiere, Niveau, Role

FORM = {
    "title": "Examen d'algèbre linéaire",
    "matiere": "Algèbre",
    "filiere": "MATH",
    "niveau": "L1",
    "type": "EXAMEN",
    "annee": "2023",
    "description": "Session de janvier",
}


def _upload(pdf: bytes, name: str = "sujet.pdf") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, pdf, "application/pdf")}


async def _titles(
    client: httpx.AsyncClient, headers: dict[str, str], **params: object
) -> list[str]:
    response = await client.get("/v1/epreuves", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_list_requires_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/epreuves")).status_code == 401


async def test_list_is_newest_first_with_total_and_pagination(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    for title in ("A", "B", "C"):
        await make_epreuve(title=title)
    _, headers = await make_user()
    page = (await client.get("/v1/epreuves", params={"limit": 2}, headers=headers)).json()
    assert [i["title"] for i in page["items"]] == ["C", "B"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert await _titles(client, headers, limit=2, offset=2) == ["A"]


async def test_list_item_carries_counters_teacher_and_file_info(
    client: httpx.AsyncClient, make_user, make_epreuve, pdf_bytes
) -> None:
    teacher, _ = await make_user(Role.TEACHER, full_name="Prof Diallo")
    await make_epreuve(teacher=teacher)
    _, headers = await make_user()
    item = (await client.get("/v1/epreuves", headers=headers)).json()["items"][0]
    assert item["teacher"] == {"id": teacher.id, "full_name": "Prof Diallo"}
    assert (item["views"], item["downloads"], item["evaluations"]) == (0, 0, 0)
    assert (item["avg_difficulty"], item["avg_relevance"]) == (None, None)
    assert (item["has_file"], item["file_size"]) == (True, len(pdf_bytes))
    assert "file_path" not in item


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filiere": "INFO"}, ["info"]),
        ({"niveau": "M1"}, ["m1"]),
        ({"type": "TD"}, ["td"]),
        ({"matiere": "topologie"}, ["topo"]),
        ({"annee": 2019}, ["old"]),
        ({"q": "fourier"}, ["topo"]),
        ({"q": "100%"}, []),
        ({"filiere": "MATH", "niveau": "L2", "type": "PARTIEL"}, ["old", "topo", "plain"]),
    ],
)
async def test_list_filters(
    client: httpx.AsyncClient, make_user, make_epreuve, params: dict, expected: list[str]
) -> None:
    await make_epreuve(title="plain")
    await make_epreuve(title="topo", matiere="Topologie", description="Séries de Fourier")
    await make_epreuve(title="old", annee=2019)
    await make_epreuve(title="info", filiere=Filiere.INFO)
    await make_epreuve(title="m1", niveau=Niveau.M1)
    await make_epreuve(title="td", type=EpreuveType.TD)
    _, headers = await make_user()
    assert await _titles(client, headers, **params) == expected


async def test_list_filters_by_teacher(client: httpx.AsyncClient, make_user, make_epreuve) -> None:
    teacher, _ = await make_user(Role.TEACHER)
    await make_epreuve(title="mine", teacher=teacher)
    await make_epreuve(title="theirs")
    _, headers = await make_user()
    assert await _titles(client, headers, teacher_id=teacher.id) == ["mine"]


async def test_list_orders_by_counters_and_rating(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    stats = {"a": (5, 1, 2.0), "b": (1, 9, None), "c": (3, 3, 4.5)}
    for title, (views, downloads, relevance) in stats.items():
        epreuve = await make_epreuve(title=title)
        await session.execute(
            update(Epreuve)
            .where(Epreuve.id == epreuve.id)
            .values(views=views, downloads=downloads, avg_relevance=relevance)
        )
    await session.commit()
    _, headers = await make_user()
    assert await _titles(client, headers, order="most_viewed") == ["a", "c", "b"]
    assert await _titles(client, headers, order="most_downloaded") == ["b", "c", "a"]
    assert await _titles(client, headers, order="best_rated") == ["c", "a", "b"]
    assert await _titles(client, headers, order="newest") == ["c", "b", "a"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"order": "random"}, "order"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset"),
     ({"niveau": "L7"}, "niveau"), ({"annee": "last"}, "annee")],
)  # fmt: skip
async def test_list_invalid_query_is_422_naming_it(
    client: httpx.AsyncClient, make_user, params: dict, field: str
) -> None:
    _, headers = await make_user()
    response = await client.get("/v1/epreuves", params=params, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field


async def test_list_hides_deleted_epreuves(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    await make_epreuve(title="kept")
    gone = await make_epreuve(title="gone")
    await session.execute(update(Epreuve).where(Epreuve.id == gone.id).values(is_active=False))
    await session.commit()
    _, headers = await make_user()
    page = (await client.get("/v1/epreuves", headers=headers)).json()
    assert ([i["title"] for i in page["items"]], page["total"]) == (["kept"], 1)


async def test_popular_ranks_by_views_plus_downloads_within_niveau(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    for title, niveau, views, downloads in [
        ("quiet", Niveau.L2, 1, 0),
        ("hot", Niveau.L2, 4, 4),
        ("warm", Niveau.L2, 2, 3),
        ("other level", Niveau.M2, 50, 50),
    ]:
        epreuve = await make_epreuve(title=title, niveau=niveau)
        await session.execute(
            update(Epreuve).where(Epreuve.id == epreuve.id).values(views=views, downloads=downloads)
        )
    await session.commit()
    _, headers = await make_user()
    response = await client.get("/v1/epreuves/popular", params={"niveau": "L2"}, headers=headers)
    assert [i["title"] for i in response.json()["items"]] == ["hot", "warm", "quiet"]
    assert response.json()["total"] == 3
    everywhere = await client.get("/v1/epreuves/popular", params={"limit": 1}, headers=headers)
    assert [i["title"] for i in everywhere.json()["items"]] == ["other level"]


async def test_read_records_a_view_for_the_caller(
    client: httpx.AsyncClient, app: FastAPI, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    url = app.url_path_for("read_epreuve", epreuve_id=str(epreuve.id))
    await client.get(url, headers=headers)
    body = (await client.get(url, headers=headers)).json()
    assert body["views"] == 2
    kinds = (
        await session.scalars(select(Interaction.kind).where(Interaction.user_id == user.id))
    ).all()
    assert kinds == ["VIEW", "VIEW"]
    events = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.type == "interaction.created"))
    ).all()
    assert [(e.payload["user_id"], e.payload["kind"]) for e in events] == [(user.id, "VIEW")] * 2


async def test_read_unknown_epreuve_is_404_and_records_nothing(
    client: httpx.AsyncClient, make_user, session
) -> None:
    _, headers = await make_user()
    response = await client.get("/v1/epreuves/999", headers=headers)
    assert response.status_code == 404
    assert response.json()["code"] == "epreuve_not_found"
    assert (await session.scalars(select(Interaction))).all() == []


async def test_read_with_non_integer_id_is_422(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user()
    response = await client.get("/v1/epreuves/abc", headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "epreuve_id"


async def test_teacher_creates_an_epreuve_with_its_pdf(
    client: httpx.AsyncClient, make_user, pdf_bytes, session
) -> None:
    teacher, headers = await make_user(Role.TEACHER, full_name="Prof Sow")
    response = await client.post(
        "/v1/epreuves", data=FORM, files=_upload(pdf_bytes), headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("title", "matiere", "filiere", "niveau", "type", "annee")} == {
        "title": "Examen d'algèbre linéaire", "matiere": "Algèbre", "filiere": "MATH",
        "niveau": "L1", "type": "EXAMEN", "annee": 2023,
    }  # fmt: skip
    assert body["teacher"] == {"id": teacher.id, "full_name": "Prof Sow"}
    assert (body["has_file"], body["file_size"], body["views"]) == (True, len(pdf_bytes), 0)
    events = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.type == "epreuve.upserted"))
    ).all()
    assert [e.payload["id"] for e in events] == [body["id"]]


async def test_admin_can_create_an_epreuve(client: httpx.AsyncClient, make_user, pdf_bytes) -> None:
    _, headers = await make_user(Role.ADMIN)
    response = await client.post(
        "/v1/epreuves", data=FORM, files=_upload(pdf_bytes), headers=headers
    )
    assert response.status_code == 201


async def test_student_cannot_create_an_epreuve(
    client: httpx.AsyncClient, make_user, pdf_bytes
) -> None:
    _, headers = await make_user()
    response = await client.post(
        "/v1/epreuves", data=FORM, files=_upload(pdf_bytes), headers=headers
    )
    assert response.status_code == 403


async def test_create_without_token_is_401(client: httpx.AsyncClient, pdf_bytes) -> None:
    response = await client.post("/v1/epreuves", data=FORM, files=_upload(pdf_bytes))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("field", "value"), [("niveau", "L9"), ("annee", "1800"), ("type", "QUIZ"), ("title", "")]
)
async def test_create_with_invalid_field_is_422_naming_it(
    client: httpx.AsyncClient, make_user, pdf_bytes, field: str, value: str
) -> None:
    _, headers = await make_user(Role.TEACHER)
    data = {**FORM, field: value}
    response = await client.post(
        "/v1/epreuves", data=data, files=_upload(pdf_bytes), headers=headers
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field


async def test_create_without_file_is_422_naming_file(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user(Role.TEACHER)
    response = await client.post("/v1/epreuves", data=FORM, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "file"


async def test_owner_edits_fields_and_event_follows(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    teacher, headers = await make_user(Role.TEACHER)
    epreuve = await make_epreuve(teacher=teacher)
    response = await client.patch(
        f"/v1/epreuves/{epreuve.id}",
        json={"title": "Nouveau titre", "annee": 2022},
        headers=headers,
    )
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["annee"]) == ("Nouveau titre", 2022)
    last = await session.scalar(select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(1))
    assert last is not None
    assert (last.type, last.payload["title"], last.payload["annee"]) == (
        "epreuve.upserted", "Nouveau titre", 2022,
    )  # fmt: skip


async def test_admin_edits_any_epreuve(client: httpx.AsyncClient, make_user, make_epreuve) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user(Role.ADMIN)
    response = await client.patch(
        f"/v1/epreuves/{epreuve.id}", json={"niveau": "L3"}, headers=headers
    )
    assert response.json()["niveau"] == "L3"


async def test_other_teacher_cannot_edit(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user(Role.TEACHER)
    response = await client.patch(
        f"/v1/epreuves/{epreuve.id}", json={"title": "x"}, headers=headers
    )
    assert response.status_code == 403


async def test_student_cannot_edit(client: httpx.AsyncClient, make_user, make_epreuve) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    response = await client.patch(
        f"/v1/epreuves/{epreuve.id}", json={"title": "x"}, headers=headers
    )
    assert response.status_code == 403


async def test_edit_with_invalid_or_unknown_field_is_422(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    teacher, headers = await make_user(Role.TEACHER)
    epreuve = await make_epreuve(teacher=teacher)
    for body, field in (({"annee": 3000}, "annee"), ({"views": 1000}, "views")):
        response = await client.patch(f"/v1/epreuves/{epreuve.id}", json=body, headers=headers)
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == field


async def test_edit_unknown_epreuve_is_404(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user(Role.ADMIN)
    response = await client.patch("/v1/epreuves/12345", json={"title": "x"}, headers=headers)
    assert response.status_code == 404


async def test_owner_soft_deletes_and_it_disappears(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    teacher, headers = await make_user(Role.TEACHER)
    epreuve = await make_epreuve(teacher=teacher)
    assert (await client.delete(f"/v1/epreuves/{epreuve.id}", headers=headers)).status_code == 204
    assert (await client.get(f"/v1/epreuves/{epreuve.id}", headers=headers)).status_code == 404
    assert (await client.delete(f"/v1/epreuves/{epreuve.id}", headers=headers)).status_code == 404
    row = await session.scalar(select(Epreuve).where(Epreuve.id == epreuve.id))
    assert row is not None and row.is_active is False
    deleted = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.type == "epreuve.deleted"))
    ).all()
    assert [e.payload for e in deleted] == [{"id": epreuve.id}]


async def test_other_teacher_cannot_delete(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user(Role.TEACHER)
    assert (await client.delete(f"/v1/epreuves/{epreuve.id}", headers=headers)).status_code == 403
