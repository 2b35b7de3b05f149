"""/healthz, /readyz, /metrics, and the app's start-up duties."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from catalog_service.config import Settings
from catalog_service.main import create_app
from catalog_service.users.models import User
from shared.enums import Role


async def test_healthz_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_both_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


@pytest.mark.parametrize(
    "settings_overrides", [{"redis_url": "unix:///nonexistent/redis.sock"}], indirect=True
)
async def test_readyz_is_503_when_redis_is_unreachable(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "unavailable"
    assert body["details"]["checks"]["postgres"] == "ok"
    assert body["details"]["checks"]["redis"].startswith("error")


@pytest.mark.parametrize(
    "settings_overrides", [{"redis_url": "unix:///nonexistent/redis.sock"}], indirect=True
)
async def test_login_still_works_when_redis_is_down(client: httpx.AsyncClient, make_user) -> None:
    await make_user(email="a@univ.example")
    form = {"username": "a@univ.example", "password": "password-123"}
    assert (await client.post("/v1/auth/token", data=form)).status_code == 200


async def test_metrics_label_requests_by_route_template(
    client: httpx.AsyncClient, make_user
) -> None:
    _, headers = await make_user()
    await client.get("/v1/epreuves/98765", headers=headers)
    await client.get("/no/such/path/12345")
    text = (await client.get("/metrics")).text
    assert (
        'catalog_http_requests_total{method="GET",route="/v1/epreuves/{epreuve_id}",status="404"}'
        in text
    )
    assert 'catalog_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    # No label carries the path's ids (a sample *value* may well hold those digits).
    labels = {
        value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for value in sample.labels.values()
    }
    assert not any("98765" in value or "12345" in value for value in labels)
    assert 'route="unmatched"' in text


async def test_openapi_lists_the_contract_paths(client: httpx.AsyncClient) -> None:
    paths = set((await client.get("/openapi.json")).json()["paths"])
    assert {
        "/v1/auth/register", "/v1/auth/token", "/v1/auth/refresh", "/v1/users/me",
        "/v1/users/me/interactions", "/v1/users", "/v1/users/{user_id}", "/v1/epreuves",
        "/v1/epreuves/popular", "/v1/epreuves/{epreuve_id}", "/v1/epreuves/{epreuve_id}/file",
        "/v1/interactions", "/healthz", "/readyz",
    } <= paths  # fmt: skip


@pytest.mark.parametrize(
    "settings_overrides",
    [{"first_admin_email": "Boss@Univ.example", "first_admin_password": "very-secret-pw"}],
    indirect=True,
)
async def test_first_admin_is_created_once(app: FastAPI, settings: Settings, session) -> None:
    again = create_app(settings)  # a second replica starting
    async with again.router.lifespan_context(again):
        pass
    admins = (await session.scalars(select(User).where(User.role == Role.ADMIN))).all()
    assert [a.email for a in admins] == ["boss@univ.example"]


def test_app_refuses_to_start_without_jwt_secret(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        create_app(settings.model_copy(update={"jwt_secret": None}))


def test_settings_read_the_documented_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, Any] = {
        "DATABASE_URL": "postgresql://u@db/x", "REDIS_URL": "redis://r:6379/1",
        "SERVICE_API_KEY": "k", "RECOMMENDER_URL": "http://rec:8001", "DATA_DIR": "/srv/data",
        "CATALOG_PORT": "9000", "JWT_SECRET": "s", "MAX_UPLOAD_MB": "5",
        "EVENTS_STREAM": "s.events", "OUTBOX_RELAY_ENABLED": "false",
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("UPLOAD_DIR", raising=False)
    settings = Settings()
    assert settings.database_url == "postgresql://u@db/x"
    assert settings.catalog_port == 9000
    assert str(settings.uploads_path) == "/srv/data/uploads"
    assert settings.max_upload_bytes == 5 * 1024 * 1024
    assert (settings.events_stream, settings.outbox_relay_enabled) == ("s.events", False)
    assert settings.service_api_key.get_secret_value() == "k"
