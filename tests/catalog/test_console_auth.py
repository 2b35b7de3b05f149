"""/admin sign-in: the session cookie, students refused, CSRF on every change, logout, and
the login rate limit shared with the API."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from catalog_service.admin.auth import SESSION_COOKIE
from shared.enums import Role
from tests.catalog.conftest import DEFAULT_PASSWORD, MakeUser
from tests.catalog.console import csrf_token, login, token
from tests.conftest import asgi_client


async def test_anonymous_visitors_are_sent_to_the_login_page(client: httpx.AsyncClient) -> None:
    for path in ("/admin/", "/admin/epreuve/list", "/admin/dashboard", "/admin/recommender"):
        response = await client.get(path)
        assert response.status_code == 302, path
        assert response.headers["location"] == "http://test/admin/login"


async def test_login_sets_an_httponly_samesite_signed_cookie_limited_to_admin(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    response = await login(client, admin.email)
    assert (response.status_code, response.headers["location"]) == (302, "http://test/admin/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"path", "max-age", "httponly", "samesite"} <= attributes
    assert "path=/admin" in cookie and "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP here
    # Signed: a forged value is a stranger, sent back to the login page.
    client.cookies.set(SESSION_COOKIE, "eyJ1c2VyX2lkIjogMX0=.forged.sig", path="/admin")
    assert (await client.get("/admin/dashboard")).status_code == 302


async def test_the_cookie_is_secure_when_served_over_https(
    app: FastAPI, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    async with asgi_client(app, base_url="https://console.test") as client:
        response = await login(client, admin.email)
    assert response.status_code == 302
    assert "secure" in response.headers["set-cookie"].lower().split("; ")


async def test_wrong_password_is_refused_without_a_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    response = await login(client, admin.email, "not-the-password")
    assert response.status_code == 400
    assert "Invalid credentials" in response.text
    assert (await client.get("/admin/dashboard")).status_code == 302


async def test_students_are_refused_with_a_403_page(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    student, _ = await make_user(Role.STUDENT)
    response = await login(client, student.email)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "The console is for teachers and admins" in response.text
    assert (await client.get("/admin/dashboard")).status_code == 302


async def test_a_demoted_admin_loses_the_console_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    _, headers = await make_user(Role.ADMIN)
    await login(client, admin.email)
    assert (await client.get("/admin/dashboard")).status_code == 200
    demoted = await client.patch(f"/v1/users/{admin.id}", json={"role": "student"}, headers=headers)
    assert demoted.status_code == 200
    assert (await client.get("/admin/dashboard")).status_code == 403


async def test_login_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await client.get("/admin/login")
    response = await client.post(
        "/admin/login", data={"username": admin.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 403
    assert "reload the page" in response.text
    assert (await client.get("/admin/dashboard")).status_code == 302


async def test_a_token_seen_before_login_is_worthless_after_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    before = csrf_token(await client.get("/admin/login"))
    await login(client, admin.email)
    assert await token(client) != before


async def test_logout_needs_the_token_then_ends_the_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await login(client, admin.email)
    assert (await client.get("/admin/logout")).status_code == 403
    assert (await client.get("/admin/dashboard")).status_code == 200
    out = await client.get("/admin/logout", params={"csrf_token": await token(client)})
    assert (out.status_code, out.headers["location"]) == (302, "http://test/admin/login")
    assert (await client.get("/admin/dashboard")).status_code == 302


@pytest.mark.parametrize("settings_overrides", [{"auth_rate_limit_account": 2}], indirect=True)
async def test_the_login_rate_limit_is_the_apis(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    assert (await login(client, admin.email, "wrong-1")).status_code == 400
    api = await client.post("/v1/auth/token", data={"username": admin.email, "password": "no"})
    assert api.status_code == 401
    # Third attempt on this email from this address, whichever door: refused, even if right.
    limited = await login(client, admin.email)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text
    assert (await client.get("/admin/dashboard")).status_code == 302
