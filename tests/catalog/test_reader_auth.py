"""Reads that authenticate without the database (the recommendation routes): the account's
standing comes from memory or Redis, and a revocation (deactivation, password or role change)
still stops a token at once where it was made, and within moments on another replica."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event as sa_event

from catalog_service.auth.tokens import TokenClaims, TokenType
from catalog_service.main import create_app
from shared.enums import Filiere, Niveau, Role
from tests.catalog.conftest import DEFAULT_PASSWORD, MakeUser
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    World,
    _recommend,
    recommender,
    recommender_mode,
    settings_overrides,
    world,
)
from tests.conftest import asgi_client
from tests.lists import same_list

NEW_PASSWORD = "a new long password"


@pytest.fixture
async def replica(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second catalog process on the same database and Redis."""
    async with asgi_client(create_app(app.state.settings), lifespan=True) as other:
        yield other


async def _status(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, str | None]:
    response = await client.get("/v1/users/me/recommendations", headers=headers)
    return response.status_code, response.json().get("code")


async def _until_refused(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, str]:
    for _ in range(200):
        status, code = await _status(client, headers)
        if status == 401:
            return status, str(code)
        await asyncio.sleep(0.05)
    raise AssertionError("the revoked token kept reading")


@contextlib.contextmanager
def _statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = app.state.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


async def test_a_known_reader_with_a_cached_answer_costs_no_sql(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    first = await _recommend(client, world, k=3)
    with _statements(app) as statements:
        for _ in range(3):
            assert same_list(await _recommend(client, world, k=3), first)
    assert statements == []


async def test_a_deactivated_student_is_refused_at_once_here_and_soon_on_another_replica(
    client: httpx.AsyncClient,
    replica: httpx.AsyncClient,
    world: World,  # noqa: F811
    make_user: MakeUser,
) -> None:
    _admin, admin_headers = await make_user(Role.ADMIN)
    for catalog in (client, replica):  # both know the standing and hold the answer
        for _ in range(2):
            assert (await _status(catalog, world.student)) == (200, None)
    deleted = await client.delete(f"/v1/users/{world.student_id}", headers=admin_headers)
    assert deleted.status_code == 204, deleted.text
    assert await _status(client, world.student) == (401, "inactive_user")
    assert await _until_refused(replica, world.student) == (401, "inactive_user")


async def test_a_password_change_revokes_earlier_tokens_for_reads_and_the_new_one_reads(
    client: httpx.AsyncClient,
    replica: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    email = (await client.get("/v1/users/me", headers=world.student)).json()["email"]
    for catalog in (client, replica):
        assert (await _status(catalog, world.student)) == (200, None)
    changed = await client.patch(
        "/v1/users/me",
        json={"current_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD},
        headers=world.student,
    )
    assert changed.status_code == 200, changed.text
    assert await _status(client, world.student) == (401, "token_revoked")
    assert await _until_refused(replica, world.student) == (401, "token_revoked")
    login = await client.post("/v1/auth/token", data={"username": email, "password": NEW_PASSWORD})
    assert login.status_code == 200, login.text
    fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for catalog in (client, replica):
        assert (await _status(catalog, fresh)) == (200, None)


async def test_an_expired_token_is_refused_although_its_answer_is_in_memory(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    assert (await _status(client, world.student)) == (200, None)  # the answer is remembered
    signer = app.state.token_signer
    issued = datetime.now(UTC) - signer.access_ttl - timedelta(minutes=1)
    expired = signer.issue(world.student_id, TokenType.ACCESS, version=0, now=issued)
    claims = TokenClaims(world.student_id, 0, None, issued + signer.access_ttl)
    app.state.verified_tokens._claims[expired] = claims  # as if verified while it was good
    headers = {"Authorization": f"Bearer {expired}"}
    assert await _status(client, headers) == (401, "token_expired")


async def test_another_students_token_gets_their_own_answer_for_the_same_request(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    make_user: MakeUser,
) -> None:
    _other, other_headers = await make_user(Role.STUDENT, niveau=Niveau.M2, filiere=Filiere.INFO)
    mine = await _recommend(client, world, k=3)
    assert same_list(await _recommend(client, world, k=3), mine)  # remembered
    theirs = await client.get(
        "/v1/users/me/recommendations", params={"k": 3}, headers=other_headers
    )
    assert theirs.status_code == 200
    assert theirs.json()["items"] != mine.json()["items"]
