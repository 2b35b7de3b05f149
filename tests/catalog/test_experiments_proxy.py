"""/v1/recommender/experiments...: the admin's A/B controls, relayed to the real recommender on
uvicorn (the fixtures of test_recommendations_api), the current one reported with its arms'
online metrics from the catalog's own impressions."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.registry import service as registry
from shared.enums import Arm, Role
from tests.catalog.conftest import MakeEpreuve, MakeUser
from tests.catalog.test_impression_log import shown
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    Recommender,
    recommender,
    recommender_mode,
    settings_overrides,
)

pytestmark = pytest.mark.usefixtures("recommender")

EXPERIMENTS = "/v1/recommender/experiments"


@pytest.fixture
async def admin(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(Role.ADMIN, niveau=None, filiere=None)
    return headers


@pytest.fixture
def registry_db(request: pytest.FixtureRequest) -> async_sessionmaker[AsyncSession]:
    """The recommender's database, where its registry keeps the versions."""
    up: Recommender = request.getfixturevalue("recommender")
    return up.state.sessionmaker  # type: ignore[no-any-return]


async def _version(db: async_sessionmaker[AsyncSession], *, active: bool = False) -> int:
    """A trained version in the recommender's registry (not loadable: nothing serves it)."""
    async with db() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="mf", hyperparameters={}, trigger="test"
        )
        await registry.complete_version(
            session=session, version_id=version.id, blob=b"x", metrics={}, n_users=1,
            n_items=1, n_interactions=1, train_seconds=0.1, data_snapshot_at=version.created_at,
        )  # fmt: skip
        if active:
            await registry.activate(session=session, version_id=version.id)
        return version.id


async def test_an_experiment_is_started_read_with_its_arms_and_stopped_through_the_catalog(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
    registry_db: async_sessionmaker[AsyncSession],
) -> None:
    control = await _version(registry_db, active=True)
    candidate = await _version(registry_db)
    body = {"candidate_version": candidate, "traffic": 0.2}
    started = await client.post(EXPERIMENTS, json=body, headers=admin)
    assert started.status_code == 201, started.text
    experiment = started.json()
    assert (experiment["status"], experiment["control_version"]) == ("running", control)
    report = await client.get(f"{EXPERIMENTS}/current", headers=admin)
    assert report.status_code == 200
    assert report.json() == {**experiment, "online": None}

    epreuve = await make_epreuve()
    user, _ = await make_user()
    at = datetime.now(UTC)  # after the experiment started
    for arm, version in ((Arm.CONTROL, control), (Arm.CANDIDATE, candidate)):
        app.state.impressions.record(shown(
            user.id, [epreuve.id], arm=arm, experiment_id=experiment["id"],
            model_version=version, shown_at=at,
        ))  # fmt: skip
    other = shown(user.id, [epreuve.id], arm=Arm.CANDIDATE, experiment_id=999, shown_at=at)
    app.state.impressions.record(other)
    await app.state.impressions.flush()
    online = (await client.get(f"{EXPERIMENTS}/current", headers=admin)).json()["online"]
    assert online["experiment_id"] == experiment["id"]
    assert {arm: m["impressions"] for arm, m in online["arms"].items()} == {
        "control": 1,
        "candidate": 1,
    }
    assert online["ctr_difference"]["estimate"] == 0.0

    again = await client.post(EXPERIMENTS, json=body, headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "experiment_running")
    stopped = await client.delete(f"{EXPERIMENTS}/current", headers=admin)
    assert (stopped.status_code, stopped.json()["status"]) == (200, "stopped")
    gone = await client.get(f"{EXPERIMENTS}/current", headers=admin)
    assert (gone.status_code, gone.json()["code"]) == (404, "no_experiment")


async def test_promoting_through_the_catalog_makes_the_candidate_active(
    client: httpx.AsyncClient, admin: dict[str, str], registry_db: async_sessionmaker[AsyncSession]
) -> None:
    await _version(registry_db, active=True)
    candidate = await _version(registry_db)
    body = {"candidate_version": candidate, "traffic": 0.5}
    assert (await client.post(EXPERIMENTS, json=body, headers=admin)).status_code == 201
    promoted = await client.post(f"{EXPERIMENTS}/current/promote", headers=admin)
    assert (promoted.status_code, promoted.json()["status"]) == (200, "promoted")
    model = (await client.get("/v1/recommender/model", headers=admin)).json()
    assert model["active"]["id"] == candidate
    missing = await client.post(f"{EXPERIMENTS}/current/promote", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "no_experiment")


@pytest.mark.parametrize(
    "body",
    [{"candidate_version": 2, "traffic": 1.5}, {"candidate_version": "2", "traffic": 0.1}, {}],
)
async def test_a_malformed_experiment_is_refused_by_the_catalog_with_a_422(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, object]
) -> None:
    response = await client.post(EXPERIMENTS, json=body, headers=admin)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/current"), ("DELETE", "/current"), ("POST", "/current/promote")],
)
async def test_a_down_recommender_gives_503_for_the_experiment_calls(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, EXPERIMENTS + path, headers=admin)
    assert (response.status_code, response.json()["code"]) == (503, "recommender_unavailable")


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_only_admins_run_experiments(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    _, student = await make_user()
    body = {"candidate_version": 2, "traffic": 0.1}
    assert (await client.post(EXPERIMENTS, json=body, headers=student)).status_code == 403
    assert (await client.delete(f"{EXPERIMENTS}/current")).status_code == 401
