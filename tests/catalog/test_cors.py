"""CORS for browser frontends on other origins: only the origins CORS_ORIGINS names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

APP = "https://app.example"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """CORS_ORIGINS naming APP, unless a test parametrizes other settings."""
    return dict(getattr(request, "param", {"cors_origins": [APP]}))


async def test_a_preflight_from_a_named_origin_is_allowed_with_credentials(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/v1/interactions", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert {h.strip() for h in response.headers["access-control-allow-headers"].split(",")} >= {
        "Authorization",
        "Content-Type",
    }


async def test_a_preflight_from_another_origin_gets_no_allow_origin(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/v1/interactions", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_answers_and_errors_to_a_named_origin_carry_its_header(
    client: httpx.AsyncClient, make_user
) -> None:
    _, headers = await make_user()
    ok = await client.get("/v1/users/me", headers={**headers, "Origin": APP})
    refused = await client.get("/v1/users/me", headers={"Origin": APP})
    assert (ok.status_code, refused.status_code) == (200, 401)
    assert ok.headers["access-control-allow-origin"] == APP
    assert refused.headers["access-control-allow-origin"] == APP


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)
async def test_without_cors_origins_no_cors_header_is_sent(client: httpx.AsyncClient) -> None:
    response = await client.options("/v1/interactions", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 405


def test_a_wildcard_origin_is_refused_at_start() -> None:
    from pydantic import ValidationError

    from catalog_service.config import Settings

    with pytest.raises(ValidationError, match="not '\\*'"):
        Settings(cors_origins="*")
