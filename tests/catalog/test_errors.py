"""Every error, whatever raised it, has the body {"code", "message", "details"}."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from catalog_service.auth.tokens import TokenType
from catalog_service.main import create_app
from tests.conftest import _plain, asgi_client
from tests.e2e.servers import free_port
from tests.http_checks import statuses_and_ports_around_a_500


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
    answers = [await client.get("/v1/users/me", headers=headers) for _ in range(3)]
    # The pool had one connection, now dead: exactly one request hits it, then it reconnects.
    assert [a.status_code for a in answers] == [503, 200, 200]
    assert _shape(answers[0])["code"] == "service_unavailable"
    assert answers[0].headers["retry-after"] == "1"


async def test_an_unreachable_database_is_503_with_retry_after(settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": f"postgresql://nobody@127.0.0.1:{free_port()}/none"}
    )
    app = create_app(unreachable)
    async with asgi_client(app, lifespan=True) as client:
        token = app.state.token_signer.issue(1, TokenType.ACCESS, version=0)
        response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert _shape(response) == {
        "code": "service_unavailable",
        "message": "A dependency is unavailable, retry shortly",
        "details": None,
    }


async def test_a_500_keeps_the_keep_alive_connection_open(settings) -> None:
    statuses, ports = await statuses_and_ports_around_a_500(create_app(settings))
    assert statuses == [200, 500, 200]
    assert len(ports) == 1


async def test_every_operation_documents_its_errors_with_the_error_schema(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {
        "code", "message", "details",
    }  # fmt: skip
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            errors = {int(s) for s in operation["responses"] if int(s) >= 400}
            if path != "/healthz":
                assert 503 in errors, (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert 422 in errors, (method, path)
            if path.startswith("/v1/") and not path.startswith("/v1/auth/"):
                assert 401 in errors, (method, path)
            for status in errors:
                content = operation["responses"][str(status)]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
