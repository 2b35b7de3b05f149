"""Revocation and rotation: password, role and activity changes end every earlier token, on
every replica at once; a refresh token mints one pair and is refused (and revokes) after."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from catalog_service.auth.models import UsedRefreshToken
from catalog_service.config import Settings
from catalog_service.interactions.models import Interaction
from catalog_service.main import create_app
from catalog_service.users.models import User
from shared.enums import Role
from tests.catalog.conftest import DEFAULT_PASSWORD
from tests.conftest import asgi_client

NEW_PASSWORD = "a new long password"


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def _bearer(pair: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def _me(client: httpx.AsyncClient, pair: dict[str, str]) -> httpx.Response:
    return await client.get("/v1/users/me", headers=_bearer(pair))


async def _refresh(client: httpx.AsyncClient, pair: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})


async def _refused(response: httpx.Response, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (401, code), response.text


async def test_a_password_change_revokes_every_earlier_token(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    await make_user(email="ines@univ.example")
    old = await _login(client, "ines@univ.example", DEFAULT_PASSWORD)
    other_device = await _login(client, "ines@univ.example", DEFAULT_PASSWORD)

    change = {"current_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD}
    assert (
        await client.patch("/v1/users/me", json=change, headers=_bearer(old))
    ).status_code == 200

    # Within the same second as the change: the version, not the clock, decides.
    for pair in (old, other_device):
        await _refused(await _me(client, pair), "token_revoked")
        await _refused(await _refresh(client, pair), "token_revoked")
    body = {"epreuve_id": epreuve.id, "kind": "CLICK"}
    posted = await client.post("/v1/interactions", json=body, headers=_bearer(old))
    await _refused(posted, "token_revoked")
    assert await session.scalar(select(func.count()).select_from(Interaction)) == 0

    new = await _login(client, "ines@univ.example", NEW_PASSWORD)
    assert (await _me(client, new)).status_code == 200
    posted = await client.post("/v1/interactions", json=body, headers=_bearer(new))
    assert posted.status_code == 201


async def test_a_role_change_revokes_and_a_name_change_does_not(
    client: httpx.AsyncClient, make_user
) -> None:
    _, admin = await make_user(Role.ADMIN, niveau=None, filiere=None)
    user, _ = await make_user(email="theo@univ.example")
    pair = await _login(client, "theo@univ.example", DEFAULT_PASSWORD)

    renamed = await client.patch(f"/v1/users/{user.id}", json={"full_name": "T"}, headers=admin)
    assert renamed.status_code == 200
    assert (await _me(client, pair)).status_code == 200

    same_role = await client.patch(f"/v1/users/{user.id}", json={"role": "student"}, headers=admin)
    assert same_role.status_code == 200
    assert (await _me(client, pair)).status_code == 200

    promoted = await client.patch(f"/v1/users/{user.id}", json={"role": "teacher"}, headers=admin)
    assert promoted.status_code == 200
    await _refused(await _me(client, pair), "token_revoked")
    await _refused(await _refresh(client, pair), "token_revoked")
    teacher = await _login(client, "theo@univ.example", DEFAULT_PASSWORD)
    assert (await _me(client, teacher)).json()["role"] == "teacher"


@pytest.mark.parametrize("how", ["delete", "patch"])
async def test_deactivation_revokes_access_and_refresh_tokens(
    client: httpx.AsyncClient, make_user, session, how: str
) -> None:
    _, admin = await make_user(Role.ADMIN, niveau=None, filiere=None)
    user, _ = await make_user(email="zoe@univ.example")
    pair = await _login(client, "zoe@univ.example", DEFAULT_PASSWORD)
    if how == "delete":
        response = await client.delete(f"/v1/users/{user.id}", headers=admin)
    else:
        body = {"is_active": False}
        response = await client.patch(f"/v1/users/{user.id}", json=body, headers=admin)
    assert response.status_code in (200, 204)

    await _refused(await _me(client, pair), "inactive_user")
    await _refused(await _refresh(client, pair), "inactive_user")
    version = select(User.token_version).where(User.id == user.id)
    assert await session.scalar(version) == 1  # reactivating the account revives no token


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_account(
    client: httpx.AsyncClient, make_user
) -> None:
    await make_user(email="lea@univ.example")
    first = await _login(client, "lea@univ.example", DEFAULT_PASSWORD)

    rotated = await _refresh(client, first)
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await _me(client, second)).status_code == 200

    # The first refresh token again (stolen, or replayed): refused, and the account's tokens
    # all go, the pair it minted included.
    await _refused(await _refresh(client, first), "refresh_token_reused")
    await _refused(await _me(client, second), "token_revoked")
    await _refused(await _refresh(client, second), "token_revoked")
    await _refused(await _me(client, first), "token_revoked")

    again = await _login(client, "lea@univ.example", DEFAULT_PASSWORD)
    assert (await _refresh(client, again)).status_code == 200


async def test_each_refresh_token_of_a_chain_is_redeemed_once(
    client: httpx.AsyncClient, make_user, session
) -> None:
    await make_user(email="sam@univ.example")
    pair = await _login(client, "sam@univ.example", DEFAULT_PASSWORD)
    for _ in range(3):
        response = await _refresh(client, pair)
        assert response.status_code == 200
        pair = response.json()
    assert (await _me(client, pair)).status_code == 200
    assert await session.scalar(select(func.count()).select_from(UsedRefreshToken)) == 3


async def test_expired_redemption_records_are_purged(
    client: httpx.AsyncClient, make_user, session
) -> None:
    stale = [
        UsedRefreshToken(jti=uuid.uuid4(), expires_at=datetime.now(UTC) - timedelta(days=1))
        for _ in range(3)
    ]
    session.add_all(stale)
    await session.commit()
    await make_user(email="max@univ.example")
    pair = await _login(client, "max@univ.example", DEFAULT_PASSWORD)
    assert (await _refresh(client, pair)).status_code == 200

    session.expire_all()
    kept = (await session.scalars(select(UsedRefreshToken.expires_at))).all()
    assert len(kept) == 1 and kept[0] > datetime.now(UTC)


async def test_a_revocation_on_one_replica_is_refused_at_once_by_another(
    client: httpx.AsyncClient, settings: Settings, make_user
) -> None:
    await make_user(email="noa@univ.example")
    pair = await _login(client, "noa@univ.example", DEFAULT_PASSWORD)
    replica: FastAPI = create_app(settings)
    async with asgi_client(replica, lifespan=True) as other:
        assert (await _me(other, pair)).status_code == 200
        change = {"current_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD}
        patched = await client.patch("/v1/users/me", json=change, headers=_bearer(pair))
        assert patched.status_code == 200
        await _refused(await _me(other, pair), "token_revoked")
        await _refused(await _refresh(other, pair), "token_revoked")
