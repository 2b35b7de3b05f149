"""Every error, whatever raised it, has the body {"code", "message", "details"}."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import _plain


def _shape(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    return body


async def test_unknown_path_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert _shape(response)["code"] == "not_found"


async def test_wrong_method_is_405_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/auth/token")
    assert response.status_code == 405
    assert _shape(response)["code"] == "method_not_allowed"


async def test_validation_error_names_field_and_lists_details(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/refresh", json={"refresh_token": ""})
    assert response.status_code == 422
    body = _shape(response)
    assert body["code"] == "validation_error"
    assert body["message"].startswith("refresh_token: ")
    assert [(d["field"], d["type"]) for d in body["details"]] == [
        ("refresh_token", "string_too_short")
    ]


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/refresh", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert _shape(response)["code"] == "validation_error"


async def test_unauthorized_carries_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/me", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _shape(response)["code"] == "invalid_token"


@pytest.mark.parametrize("value", ["9" * 30, "-1", "1e3"])
async def test_out_of_range_path_ids_are_422(
    client: httpx.AsyncClient, make_user, value: str
) -> None:
    _, headers = await make_user()
    response = await client.get(f"/v1/epreuves/{value}", headers=headers)
    assert response.status_code == 422
    assert _shape(response)["details"][0]["field"] == "epreuve_id"


async def test_unexpected_exception_is_500_without_traceback(app: FastAPI) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert _shape(response) == {
        "code": "internal_error",
        "message": "Internal server error",
        "details": None,
    }
    assert "hunter2" not in response.text


async def test_a_connection_lost_with_its_server_is_503_once_then_recovers(
    client: httpx.AsyncClient, make_user, database_url: str
) -> None:
    _user, headers = await make_user()
    assert (await client.get("/v1/users/me", headers=headers)).status_code == 200
    # Every server-side connection of the app's pool dies, as in a PostgreSQL restart.
    admin = await asyncpg.connect(_plain(database_url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    statuses = [(await client.get("/v1/users/me", headers=headers)).status_code for _ in range(3)]
    assert 500 not in statuses
    assert statuses[-1] == 200
    assert set(statuses) <= {200, 503}
