"""The recommender answers every error in the catalog's shape, keeps keep-alive connections
open after a 500, and answers 503 when PostgreSQL cannot be reached."""

from __future__ import annotations

import httpx

from recommender_service.config import Settings
from recommender_service.main import create_app
from shared.service_auth import SERVICE_KEY_HEADER
from tests.conftest import asgi_client
from tests.e2e.servers import free_port
from tests.http_checks import statuses_and_ports_around_a_500
from tests.recommender.conftest import SERVICE_KEY


def _shape(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    return body


async def test_an_offset_past_int64_is_422_naming_offset(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models", params={"offset": "9223372036854775808"})
    assert response.status_code == 422
    body = _shape(response)
    assert [d["field"] for d in body["details"]] == ["offset"]
    assert body["message"].startswith("offset: ")


async def test_a_nul_in_the_matiere_filter_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/1/recommendations", params={"matiere": "a\x00b"})
    assert response.status_code == 422
    assert [(d["field"], d["type"]) for d in _shape(response)["details"]] == [
        ("matiere", "control_character")
    ]


async def test_a_bool_is_not_a_number_of_epochs(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/train", json={"epochs": True})
    assert response.status_code == 422
    assert [d["field"] for d in _shape(response)["details"]] == ["epochs"]


async def test_a_missing_service_key_is_401_in_the_error_shape(app) -> None:
    async with asgi_client(app) as bare:
        response = await bare.get("/v1/models")
    assert (response.status_code, _shape(response)["code"]) == (401, "unauthorized")


async def test_unknown_path_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing")
    assert (response.status_code, _shape(response)["code"]) == (404, "not_found")


async def test_a_500_keeps_the_keep_alive_connection_open(settings: Settings) -> None:
    statuses, ports = await statuses_and_ports_around_a_500(
        create_app(settings), headers={SERVICE_KEY_HEADER: SERVICE_KEY}
    )
    assert statuses == [200, 500, 200]
    assert len(ports) == 1


async def test_an_unreachable_database_is_503_with_retry_after(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": f"postgresql://nobody@127.0.0.1:{free_port()}/none"}
    )
    app = create_app(unreachable)
    async with asgi_client(app, lifespan=True, headers={SERVICE_KEY_HEADER: SERVICE_KEY}) as c:
        response = await c.get("/v1/models")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert _shape(response)["code"] == "service_unavailable"


async def test_every_operation_documents_its_errors_with_the_error_schema(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            errors = {int(s) for s in operation["responses"] if int(s) >= 400}
            if path.startswith("/v1/"):
                assert {401, 422, 503} <= errors, (method, path)
            for status in errors:
                content = operation["responses"][str(status)]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
