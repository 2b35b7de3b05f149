"""Whatever a client sends is an exact 4xx that changes nothing stored (issue 9: NUL in every
place text enters, PATCH nulls, strict ids, emails, the NBSP comment, bounds)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.comments.models import Comment
from catalog_service.epreuves.models import Epreuve
from catalog_service.users.models import User
from shared.enums import Role

NUL = "a\x00b"
FORM = {
    "title": "Partiel de mécanique",
    "matiere": "Mécanique",
    "filiere": "PHYSIQUE",
    "niveau": "L2",
    "type": "PARTIEL",
    "annee": "2024",
    "description": "",
}


async def _stored(session: AsyncSession) -> tuple[int, ...]:
    """Row counts of what a request could have written, outbox included."""
    tables = ("user", "epreuve", "interaction", "comment", "evaluation", "outbox_event")
    counts = []
    for table in tables:
        counts.append(await session.scalar(text(f'SELECT count(*) FROM catalog."{table}"')))  # noqa: S608
    await session.rollback()
    return tuple(counts)


def _refused(response: httpx.Response, field: str, kind: str = "control_character") -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert [(d["field"], d["type"]) for d in body["details"]] == [(field, kind)]
    assert body["message"].startswith(f"{field}: ")


async def test_nul_in_comment_content_is_422_naming_content(
    client: httpx.AsyncClient, make_user, make_epreuve, session: AsyncSession
) -> None:
    _, headers = await make_user()
    epreuve = await make_epreuve()
    before = await _stored(session)
    response = await client.post(
        f"/v1/epreuves/{epreuve.id}/comments", json={"content": NUL}, headers=headers
    )
    _refused(response, "content")
    assert await _stored(session) == before


@pytest.mark.parametrize("field", ["title", "matiere", "description"])
async def test_nul_in_epreuve_json_fields_is_422_and_leaves_the_row(
    client: httpx.AsyncClient, make_user, make_epreuve, session: AsyncSession, field: str
) -> None:
    teacher, headers = await make_user(Role.TEACHER)
    epreuve = await make_epreuve(teacher=teacher)
    before = await _stored(session)
    response = await client.patch(f"/v1/epreuves/{epreuve.id}", json={field: NUL}, headers=headers)
    _refused(response, field)
    assert await _stored(session) == before
    row = await session.get(Epreuve, epreuve.id)
    assert row is not None
    assert (row.title, row.matiere, row.description) == ("Partiel d'analyse", "Analyse", "")


@pytest.mark.parametrize("field", ["title", "matiere", "description"])
async def test_nul_in_upload_form_fields_is_422_and_stores_nothing(
    client: httpx.AsyncClient, make_user, pdf_bytes, session: AsyncSession, settings, field: str
) -> None:
    _, headers = await make_user(Role.TEACHER)
    before = await _stored(session)
    files = {"file": ("sujet.pdf", pdf_bytes, "application/pdf")}
    response = await client.post(
        "/v1/epreuves", data={**FORM, field: NUL}, files=files, headers=headers
    )
    _refused(response, field)
    assert await _stored(session) == before
    assert not any(p.is_file() for p in settings.uploads_path.rglob("*"))


async def test_nul_in_upload_file_name_is_422_naming_the_file(
    client: httpx.AsyncClient, make_user, pdf_bytes, session: AsyncSession, settings
) -> None:
    _, headers = await make_user(Role.TEACHER)
    before = await _stored(session)
    # By hand: httpx would percent-encode the NUL in a file name, a raw client need not.
    boundary = "policy-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in FORM.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="su\x00jet.pdf"'
        "\r\nContent-Type: application/pdf\r\n\r\n".encode()
        + pdf_bytes
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        "/v1/epreuves",
        content=b"".join(parts),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    _refused(response, "file.filename")
    assert await _stored(session) == before
    assert not any(p.is_file() for p in settings.uploads_path.rglob("*"))


async def test_nul_in_full_name_is_422_on_register_and_on_patch_me(
    client: httpx.AsyncClient, make_user, session: AsyncSession
) -> None:
    user, headers = await make_user()
    before = await _stored(session)
    body = {"email": "new@univ.example", "password": "long password", "full_name": NUL}
    _refused(
        await client.post("/v1/auth/register", json={**body, "niveau": "L1", "filiere": "MATH"}),
        "full_name",
    )
    _refused(
        await client.patch("/v1/users/me", json={"full_name": NUL}, headers=headers), "full_name"
    )
    assert await _stored(session) == before
    assert (await session.get(User, user.id)).full_name == user.full_name  # type: ignore[union-attr]


async def test_nul_in_email_is_422_on_register(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = {"email": "a\x00b@x.org", "password": "long password", "full_name": "A B"}
    response = await client.post(
        "/v1/auth/register", json={**body, "niveau": "L1", "filiere": "MATH"}
    )
    _refused(response, "email")
    assert await _stored(session) == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    "metadata",
    [{"k\x00": 1}, {"k": "v\x00"}, {"a": {"b": [{"c\x00": True}]}}, {"a": [1, {"b": "x\x00"}]}],
)
async def test_nul_in_interaction_metadata_keys_and_nested_values_is_422(
    client: httpx.AsyncClient, make_user, make_epreuve, session: AsyncSession, metadata: dict
) -> None:
    _, headers = await make_user()
    epreuve = await make_epreuve()
    before = await _stored(session)
    body = {"epreuve_id": epreuve.id, "kind": "CLICK", "metadata": metadata}
    _refused(await client.post("/v1/interactions", json=body, headers=headers), "metadata")
    assert await _stored(session) == before


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/epreuves", "q"),
        ("/v1/epreuves", "matiere"),
        ("/v1/users", "q"),
        ("/v1/users/me/recommendations", "matiere"),
    ],
)
async def test_nul_in_text_query_parameters_is_422(
    client: httpx.AsyncClient, make_user, path: str, param: str
) -> None:
    _, headers = await make_user(Role.ADMIN)
    _refused(await client.get(path, params={param: NUL}, headers=headers), param)


async def test_nul_in_login_username_is_422_without_touching_the_database(settings) -> None:
    """The same app on a database that refuses every connection: a login reaching the
    lookup would be a 503, so a 422 proves the refusal comes first."""
    from catalog_service.main import create_app
    from tests.conftest import asgi_client
    from tests.e2e.servers import free_port

    unreachable = settings.model_copy(
        update={"database_url": f"postgresql://nobody@127.0.0.1:{free_port()}/none"}
    )
    app = create_app(unreachable)
    async with asgi_client(app, lifespan=True) as client:
        form = {"username": "a\x00b@x.org", "password": "whatever-123"}
        _refused(await client.post("/v1/auth/token", data=form), "username")
        good = {"username": "a@x.org", "password": "whatever-123"}
        answer = await client.post("/v1/auth/token", data=good)
        assert (answer.status_code, answer.json()["code"]) == (503, "service_unavailable")


async def test_register_with_nul_in_password_is_422(client: httpx.AsyncClient) -> None:
    body = {"email": "p@x.org", "password": "long\x00password", "full_name": "P"}
    response = await client.post(
        "/v1/auth/register", json={**body, "niveau": "L1", "filiere": "MATH"}
    )
    _refused(response, "password")


@pytest.mark.parametrize("field", ["is_active", "role", "full_name"])
async def test_admin_patch_with_null_on_a_non_nullable_field_is_422(
    client: httpx.AsyncClient, make_user, session: AsyncSession, field: str
) -> None:
    _, admin = await make_user(Role.ADMIN)
    user, _ = await make_user()
    before = await _stored(session)
    response = await client.patch(f"/v1/users/{user.id}", json={field: None}, headers=admin)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == [field]
    assert await _stored(session) == before
    row = await session.get(User, user.id)
    assert row is not None
    assert (row.is_active, row.role, row.full_name) == (True, Role.STUDENT, user.full_name)


@pytest.mark.parametrize("field", ["full_name", "password", "current_password"])
async def test_self_patch_with_null_is_422(
    client: httpx.AsyncClient, make_user, field: str
) -> None:
    _, headers = await make_user()
    response = await client.patch("/v1/users/me", json={field: None}, headers=headers)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == [field]


async def test_self_patch_null_niveau_still_clears_it(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user()
    response = await client.patch("/v1/users/me", json={"niveau": None}, headers=headers)
    assert (response.status_code, response.json()["niveau"]) == (200, None)


@pytest.mark.parametrize(
    "field", ["title", "matiere", "filiere", "niveau", "type", "annee", "description"]
)
async def test_epreuve_patch_with_null_is_422_and_changes_nothing(
    client: httpx.AsyncClient, make_user, make_epreuve, session: AsyncSession, field: str
) -> None:
    teacher, headers = await make_user(Role.TEACHER)
    epreuve = await make_epreuve(teacher=teacher)
    before = await _stored(session)
    response = await client.patch(f"/v1/epreuves/{epreuve.id}", json={field: None}, headers=headers)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == [field]
    assert await _stored(session) == before


async def test_openapi_says_patch_fields_are_optional_but_not_nullable(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name, fields in {
        "UserAdminUpdate": ("full_name", "role", "is_active"),
        "UserSelfUpdate": ("full_name", "password", "current_password"),
        "EpreuveUpdate": ("title", "matiere", "filiere", "niveau", "type", "annee", "description"),
    }.items():
        properties = schemas[name]["properties"]
        for field in fields:
            assert "anyOf" not in properties[field], (name, field)
            assert "default" not in properties[field], (name, field)
        assert not schemas[name].get("required"), name


@pytest.mark.parametrize("value", [True, "1", 1.5])
async def test_interaction_epreuve_id_must_be_an_integer_not_a_bool_or_string(
    client: httpx.AsyncClient, make_user, make_epreuve, session: AsyncSession, value: object
) -> None:
    _, headers = await make_user()
    await make_epreuve()  # id 1: `true` would have been stored as épreuve 1
    before = await _stored(session)
    body = {"epreuve_id": value, "kind": "CLICK"}
    response = await client.post("/v1/interactions", json=body, headers=headers)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["epreuve_id"]
    assert await _stored(session) == before


async def test_evaluation_scores_must_be_integers_not_bools(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    _, headers = await make_user()
    epreuve = await make_epreuve()
    body = {"difficulty": True, "relevance": 4}
    response = await client.put(f"/v1/epreuves/{epreuve.id}/evaluation", json=body, headers=headers)
    assert [d["field"] for d in response.json()["details"]] == ["difficulty"]


async def test_comment_of_one_nbsp_and_2000_characters_is_422(
    client: httpx.AsyncClient, make_user, make_epreuve, session: AsyncSession
) -> None:
    _, headers = await make_user()
    epreuve = await make_epreuve()
    url = f"/v1/epreuves/{epreuve.id}/comments"
    response = await client.post(url, json={"content": "\u00a0" + "x" * 2000}, headers=headers)
    _refused(response, "content", "string_too_long")
    assert await session.scalar(select(func.count()).select_from(Comment)) == 0
    # Spaces and newlines around are not content: trimmed, then 2,000 stored characters pass.
    ok = await client.post(url, json={"content": " " + "x" * 2000 + "\n"}, headers=headers)
    assert ok.status_code == 201
    assert ok.json()["content"] == "x" * 2000


async def test_nfc_and_nfd_spellings_of_an_email_are_one_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = {"password": "long password", "full_name": "Zoé", "niveau": "L1", "filiere": "MATH"}
    nfc, nfd = "caf\u00e9-zoe@x.fr", "cafe\u0301-zoe@x.fr"
    first = await client.post("/v1/auth/register", json={**body, "email": nfc})
    assert (first.status_code, first.json()["email"]) == (201, nfc)
    second = await client.post("/v1/auth/register", json={**body, "email": nfd.upper()})
    assert (second.status_code, second.json()["code"]) == (409, "email_taken")
    assert await session.scalar(select(func.count()).select_from(User)) == 1
    # Logging in under the other spelling finds the same account.
    form = {"username": nfd.upper(), "password": "long password"}
    assert (await client.post("/v1/auth/token", data=form)).status_code == 200


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("caf\u00e9\u202e@x.fr", "control_character"),
        ("\uff41dmin@x.fr", "email_compatibility_character"),
        ("a\x1bb@x.fr", "control_character"),
    ],
)
async def test_register_refuses_bidi_full_width_and_control_characters_in_email(
    client: httpx.AsyncClient, session: AsyncSession, email: str, kind: str
) -> None:
    body = {"email": email, "password": "long password", "full_name": "X"}
    response = await client.post(
        "/v1/auth/register", json={**body, "niveau": "L1", "filiere": "MATH"}
    )
    _refused(response, "email", kind)
    assert await session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("/v1/epreuves", "offset", "9223372036854775808"),
        ("/v1/epreuves", "limit", "101"),
        ("/v1/epreuves", "teacher_id", "9223372036854775808"),
        ("/v1/epreuves", "annee", "99999"),
        ("/v1/users/me/interactions", "offset", "100001"),
        ("/v1/recommender/models", "offset", "9223372036854775808"),
    ],
)
async def test_integer_query_parameters_out_of_bounds_are_422(
    client: httpx.AsyncClient, make_user, path: str, param: str, value: str
) -> None:
    _, headers = await make_user(Role.ADMIN)
    response = await client.get(path, params={param: value}, headers=headers)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == [param]
