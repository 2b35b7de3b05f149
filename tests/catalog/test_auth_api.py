"""POST /v1/auth/register, /v1/auth/token, /v1/auth/refresh."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from catalog_service.outbox.models import OutboxEvent
from shared.enums import Role
from tests.catalog.conftest import DEFAULT_PASSWORD
from tests.conftest import asgi_client

REGISTRATION = {
    "email": "Awa.Diop@Univ.example",
    "password": "correct horse battery",
    "full_name": "Awa Diop",
    "niveau": "L2",
    "filiere": "MATH",
}


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": email, "password": password})


async def test_register_creates_student_with_lowercased_email(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/register", json=REGISTRATION)
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "awa.diop@univ.example"
    assert body["role"] == "student"
    assert (body["niveau"], body["filiere"], body["is_active"]) == ("L2", "MATH", True)
    assert "password" not in body and "password_hash" not in body


async def test_register_ignores_a_requested_role(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/register", json={**REGISTRATION, "role": "admin"})
    assert response.status_code == 201
    assert response.json()["role"] == "student"


async def test_register_writes_user_upserted_event(client: httpx.AsyncClient, session) -> None:
    user_id = (await client.post("/v1/auth/register", json=REGISTRATION)).json()["id"]
    events = (await session.scalars(select(OutboxEvent))).all()
    assert [(e.type, e.payload["id"], e.payload["niveau"]) for e in events] == [
        ("user.upserted", user_id, "L2")
    ]


async def test_register_duplicate_email_is_409_whatever_the_case(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/auth/register", json=REGISTRATION)
    again = await client.post(
        "/v1/auth/register", json={**REGISTRATION, "email": "AWA.DIOP@univ.example"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("password", "short"), ("niveau", "L9"), ("filiere", "BIO")],
)
async def test_register_invalid_field_is_422_naming_it(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    response = await client.post("/v1/auth/register", json={**REGISTRATION, field: value})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [d["field"] for d in body["details"]] == [field]
    assert body["message"].startswith(f"{field}: ")


async def test_register_missing_full_name_is_422(client: httpx.AsyncClient) -> None:
    data: dict[str, Any] = {k: v for k, v in REGISTRATION.items() if k != "full_name"}
    response = await client.post("/v1/auth/register", json=data)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "full_name"


async def test_token_returns_bearer_pair_usable_on_me(client: httpx.AsyncClient, make_user) -> None:
    user, _ = await make_user(email="ines@univ.example")
    response = await _login(client, "INES@univ.example", DEFAULT_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    me = await client.get(
        "/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["id"] == user.id


async def test_token_with_wrong_password_is_401(client: httpx.AsyncClient, make_user) -> None:
    await make_user(email="ines@univ.example")
    response = await _login(client, "ines@univ.example", "wrong-password")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_token_for_unknown_email_is_401(client: httpx.AsyncClient) -> None:
    response = await _login(client, "nobody@univ.example", DEFAULT_PASSWORD)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_token_for_deactivated_user_is_401(
    client: httpx.AsyncClient, make_user, session
) -> None:
    user, _ = await make_user(email="gone@univ.example")
    user.is_active = False
    session.add(user)
    await session.commit()
    response = await _login(client, "gone@univ.example", DEFAULT_PASSWORD)
    assert response.status_code == 401


async def test_token_without_password_field_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/token", data={"username": "a@b.example"})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "password"


async def test_refresh_returns_a_new_working_pair(client: httpx.AsyncClient, make_user) -> None:
    await make_user(email="ines@univ.example")
    pair = (await _login(client, "ines@univ.example", DEFAULT_PASSWORD)).json()
    response = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    access = response.json()["access_token"]
    me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200


async def test_refresh_with_access_token_is_401(client: httpx.AsyncClient, make_user) -> None:
    await make_user(email="ines@univ.example")
    pair = (await _login(client, "ines@univ.example", DEFAULT_PASSWORD)).json()
    response = await client.post("/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_refresh_for_deactivated_user_is_401(
    client: httpx.AsyncClient, app: FastAPI, make_user, session
) -> None:
    user, _ = await make_user()
    from catalog_service.auth.tokens import TokenType

    token = app.state.token_signer.issue(user.id, TokenType.REFRESH, version=0)
    user.is_active = False
    session.add(user)
    await session.commit()
    response = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401
    assert response.json()["code"] == "inactive_user"


async def test_refresh_without_token_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/refresh", json={})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "refresh_token"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"auth_rate_limit_account": 3}


async def test_token_attempts_past_the_limit_are_429_with_retry_after(
    client: httpx.AsyncClient, make_user
) -> None:
    await make_user(email="ines@univ.example")
    statuses = [
        (await _login(client, "ines@univ.example", "wrong-password")).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = await _login(client, "ines@univ.example", DEFAULT_PASSWORD)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_rate_limit_is_per_username(client: httpx.AsyncClient, make_user) -> None:
    await make_user(email="other@univ.example")
    for _ in range(4):
        await _login(client, "victim@univ.example", "guess")
    assert (await _login(client, "other@univ.example", DEFAULT_PASSWORD)).status_code == 200


async def test_register_attempts_past_the_limit_are_429(client: httpx.AsyncClient) -> None:
    statuses = [
        (await client.post("/v1/auth/register", json=REGISTRATION)).status_code for _ in range(4)
    ]
    assert statuses == [201, 409, 409, 429]


async def test_rate_limit_is_shared_through_redis_across_apps(
    client: httpx.AsyncClient, settings, make_user
) -> None:
    from catalog_service.main import create_app

    await make_user(email="ines@univ.example")
    for _ in range(3):
        await _login(client, "ines@univ.example", "wrong-password")
    replica = create_app(settings)
    async with asgi_client(replica, lifespan=True) as other:
        response = await _login(other, "ines@univ.example", DEFAULT_PASSWORD)
    assert response.status_code == 429


async def test_openapi_declares_the_password_flow(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/v1/auth/token"


async def test_make_user_role_is_kept(make_user) -> None:
    teacher, _ = await make_user(Role.TEACHER)
    assert teacher.role is Role.TEACHER
