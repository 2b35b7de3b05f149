"""The console's A/B controls and online metrics, against the real recommender on uvicorn:
start an experiment from the Recommender page, read its arms, stop it; the Dashboard charts
what the lists shown earned."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.enums import Arm, Role
from tests.catalog.conftest import MakeEpreuve, MakeUser
from tests.catalog.console import login, token
from tests.catalog.test_experiments_proxy import _version, registry_db  # noqa: F401 (fixture)
from tests.catalog.test_impression_log import shown
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    recommender,
    recommender_mode,
    settings_overrides,
)

pytestmark = pytest.mark.usefixtures("recommender")


async def test_an_experiment_is_started_read_and_stopped_from_the_recommender_page(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
    registry_db: async_sessionmaker[AsyncSession],  # noqa: F811
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await login(client, admin.email)
    await _version(registry_db, active=True)
    candidate = await _version(registry_db)
    page = (await client.get("/admin/recommender")).text
    assert 'id="experiment-start"' in page and f'<option value="{candidate}">' in page
    form = {"csrf_token": await token(client), "candidate_version": str(candidate),
            "traffic": "0.25"}  # fmt: skip
    started = await client.post("/admin/recommender/experiment", data=form)
    assert (started.status_code, started.headers["location"]) == (
        303, "http://test/admin/recommender",
    )  # fmt: skip
    user, _ = await make_user()
    epreuve = await make_epreuve()
    app.state.impressions.record(
        shown(user.id, [epreuve.id], arm=Arm.CANDIDATE, experiment_id=1,
              shown_at=datetime.now(UTC))
    )  # fmt: skip
    await app.state.impressions.flush()
    page = (await client.get("/admin/recommender")).text
    assert 'id="experiment-id">1<' in page
    assert "for 25 % of the users" in page
    assert (
        '<tr data-arm="candidate"><td>candidate</td>\n            <td class="text-end">1</td>'
        in page
    )
    assert 'id="experiment-start"' not in page
    stop = await client.post("/admin/recommender/experiment/stop",
                             data={"csrf_token": await token(client)})  # fmt: skip
    assert stop.status_code == 303
    page = (await client.get("/admin/recommender")).text
    assert "Experiment 1 stopped" in page and 'id="experiment-start"' in page


async def test_a_malformed_experiment_form_is_flashed_not_sent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    await login(client, admin.email)
    form = {"csrf_token": await token(client), "candidate_version": "2", "traffic": "1.5"}
    answer = await client.post("/admin/recommender/experiment", data=form)
    assert answer.status_code == 303
    assert "Not a valid experiment: traffic" in (await client.get("/admin/recommender")).text
    forged = await client.post("/admin/recommender/experiment/promote", data={})
    assert forged.status_code == 403


async def test_the_dashboard_shows_the_lists_shown_and_charts_them(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    admin, _ = await make_user(Role.ADMIN)
    user, _ = await make_user()
    epreuve = await make_epreuve()
    for version in (3, 3, 4):
        app.state.impressions.record(
            shown(user.id, [epreuve.id], model_version=version, shown_at=datetime.now(UTC))
        )
    await app.state.impressions.flush()
    await login(client, admin.email)
    page = (await client.get("/admin/dashboard")).text
    assert '<tr data-group="v3">' in page and '<tr data-group="v4">' in page
    chart = await client.get("/admin/dashboard/online.svg")
    assert (chart.status_code, chart.headers["content-type"]) == (200, "image/svg+xml")
    assert b"<svg" in chart.content and b"v3" in chart.content
