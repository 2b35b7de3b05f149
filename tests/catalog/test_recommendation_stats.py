"""Attribution and GET /v1/stats/recommendations: what the lists shown earned, per version,
strategy and arm, exact on scripted scenarios."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from catalog_service.stats.proportions import difference
from shared.enums import Arm, Role
from tests.catalog.test_impression_log import shown

STATS = "/v1/stats/recommendations"


async def _show(app: FastAPI, user_id: int, items: list[int], **fields: Any) -> uuid.UUID:
    """A list as the catalog shows it: recorded, then written by a flush."""
    fields.setdefault("shown_at", datetime.now(UTC) - timedelta(minutes=1))
    payload = shown(user_id, items, **fields)
    app.state.impressions.record(payload)
    await app.state.impressions.flush()
    return payload.id


async def _stats(client: httpx.AsyncClient, make_user, **params: Any) -> dict[str, Any]:
    _, admin = await make_user(Role.ADMIN)
    response = await client.get(STATS, params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _epreuves(make_epreuve, n: int) -> list[int]:
    teacher = None
    ids = []
    for i in range(n):
        epreuve = await make_epreuve(teacher, title=f"Épreuve {i}")
        teacher = epreuve.teacher
        ids.append(epreuve.id)
    return ids


def _only_group(body: dict[str, Any]) -> dict[str, Any]:
    [group] = body["groups"]
    return group


async def test_a_download_of_the_third_item_within_the_window_is_attributed_at_position_3(
    app: FastAPI, client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    e = await _epreuves(make_epreuve, 5)
    user, headers = await make_user()
    listed = await _show(app, user.id, e[:4])
    download = await client.get(
        f"/v1/epreuves/{e[2]}/file", params={"recommendation_id": str(listed)}, headers=headers
    )
    assert download.status_code == 200
    group = _only_group(await _stats(client, make_user))
    assert group == {
        "source": "recommender", "model_version": 4, "strategy": None, "arm": None,
        "experiment_id": None, "impressions": 1, "engaged": 1, "ctr": 1.0, "downloads": 1,
        "download_rate": 1.0, "mrr": round(1 / 3, 6), "items_shown": 4, "coverage": 0.8,
        "first_positions": {"3": 1},
    }  # fmt: skip


@pytest.mark.parametrize("case", ["after_the_window", "not_shown", "another_users_list"])
async def test_an_interaction_outside_the_rule_is_not_attributed(
    app: FastAPI, client: httpx.AsyncClient, make_user, make_epreuve, case: str
) -> None:
    e = await _epreuves(make_epreuve, 5)
    user, headers = await make_user()
    _, other_headers = await make_user()
    at = datetime.now(UTC) - timedelta(minutes=31 if case == "after_the_window" else 1)
    listed = await _show(app, user.id, e[:4], shown_at=at)
    target, who = {
        "after_the_window": (e[2], headers),
        "not_shown": (e[4], headers),
        "another_users_list": (e[2], other_headers),
    }[case]
    download = await client.get(
        f"/v1/epreuves/{target}/file", params={"recommendation_id": str(listed)}, headers=who
    )
    assert download.status_code == 200
    group = _only_group(await _stats(client, make_user))
    assert (group["impressions"], group["engaged"], group["downloads"]) == (1, 0, 0)
    assert (group["ctr"], group["mrr"], group["first_positions"]) == (0.0, 0.0, {})


async def test_an_interaction_posted_before_its_list_is_written_is_attributed_once_it_is(
    app: FastAPI, client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    e = await _epreuves(make_epreuve, 3)
    user, headers = await make_user()
    payload = shown(user.id, e, shown_at=datetime.now(UTC) - timedelta(seconds=2))
    app.state.impressions.record(payload)  # answered, not flushed yet
    body = {"epreuve_id": e[0], "kind": "CLICK", "recommendation_id": str(payload.id)}
    created = await client.post("/v1/interactions", json=body, headers=headers)
    assert created.status_code == 201
    assert created.json()["recommendation_id"] == str(payload.id)
    await app.state.impressions.flush()
    group = _only_group(await _stats(client, make_user))
    assert (group["engaged"], group["downloads"], group["first_positions"]) == (1, 0, {"1": 1})


@pytest.mark.parametrize("value", ["not-a-uuid", 12, True])
async def test_a_malformed_recommendation_id_is_a_422(
    client: httpx.AsyncClient, make_user, make_epreuve, value: object
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "CLICK", "recommendation_id": value}
    response = await client.post("/v1/interactions", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "recommendation_id"
    viewed = await client.get(f"/v1/epreuves/{epreuve.id}", params={"recommendation_id": "x"},
                              headers=headers)  # fmt: skip
    assert viewed.status_code == 422


async def test_per_arm_metrics_and_the_ctr_interval_are_exact_on_a_scripted_experiment(
    app: FastAPI, client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    e = await _epreuves(make_epreuve, 5)
    users = [await make_user() for _ in range(3)]
    at = datetime.now(UTC) - timedelta(minutes=5)
    control = {"arm": Arm.CONTROL, "experiment_id": 7, "model_version": 5, "shown_at": at}
    candidate = {"arm": Arm.CANDIDATE, "experiment_id": 7, "model_version": 7, "shown_at": at}
    c1 = await _show(app, users[0][0].id, e[:3], **control)
    c2 = await _show(app, users[0][0].id, e[:3], **control)
    await _show(app, users[1][0].id, e[:3], **control)
    await _show(app, users[1][0].id, e[:3], **{**control, "model_version": None,
                                               "strategy": "popularity"})  # fmt: skip
    t1 = await _show(app, users[2][0].id, e[2:], **candidate)
    t2 = await _show(app, users[2][0].id, e[2:], **candidate)

    async def act(user: int, list_id: uuid.UUID, epreuve: int, kind: str) -> None:
        body = {"epreuve_id": epreuve, "kind": kind, "recommendation_id": str(list_id)}
        assert (await client.post("/v1/interactions", json=body,
                                  headers=users[user][1])).status_code == 201  # fmt: skip

    await act(0, c1, e[0], "CLICK")  # control: position 1
    await act(0, c2, e[1], "DOWNLOAD")  # control: position 2
    await act(2, t1, e[2], "VIEW")  # candidate: position 1 first ...
    await act(2, t1, e[4], "DOWNLOAD")  # ... then a download at position 3
    await act(2, t2, e[3], "CLICK")  # candidate: position 2
    body = await _stats(client, make_user)
    [experiment] = body["experiments"]
    arms = experiment["arms"]
    assert arms["control"] == {
        "impressions": 4, "engaged": 2, "ctr": 0.5, "downloads": 1, "download_rate": 0.25,
        "mrr": 0.375, "items_shown": 3, "coverage": 0.6, "first_positions": {"1": 1, "2": 1},
    }  # fmt: skip
    assert arms["candidate"] == {
        "impressions": 2, "engaged": 2, "ctr": 1.0, "downloads": 1, "download_rate": 0.5,
        "mrr": 0.75, "items_shown": 3, "coverage": 0.6, "first_positions": {"1": 1, "2": 1},
    }  # fmt: skip
    half = 1.959964 * math.sqrt(0.5 * 0.5 / 4)  # the candidate arm's p = 1 adds no variance
    assert experiment["ctr_difference"] == {
        "estimate": 0.5, "low": pytest.approx(0.5 - half, abs=1e-6),
        "high": pytest.approx(0.5 + half, abs=1e-6), "confidence": 0.95,
    }  # fmt: skip
    by_key = {(g["model_version"], g["strategy"], g["arm"]): g for g in body["groups"]}
    assert sorted(by_key, key=str) == sorted(
        [(5, None, "control"), (None, "popularity", "control"), (7, None, "candidate")], key=str
    )
    assert (by_key[5, None, "control"]["impressions"], by_key[5, None, "control"]["engaged"]) == (
        3, 2,
    )  # fmt: skip
    assert by_key[None, "popularity", "control"]["engaged"] == 0
    day = at.date().isoformat()
    assert [(d["day"], d["model_version"], d["impressions"]) for d in body["daily"]] == [
        (day, g["model_version"], g["impressions"]) for g in body["groups"]
    ]


async def test_lists_outside_the_days_asked_for_are_left_out(
    app: FastAPI, client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    e = await _epreuves(make_epreuve, 2)
    user, _ = await make_user()
    await _show(app, user.id, e, shown_at=datetime.now(UTC) - timedelta(days=3))
    await _show(app, user.id, e)
    assert _only_group(await _stats(client, make_user, days=1))["impressions"] == 1
    assert _only_group(await _stats(client, make_user, days=7))["impressions"] == 2


async def test_only_admins_read_the_online_metrics_and_days_are_bounded(
    client: httpx.AsyncClient, make_user
) -> None:
    _, student = await make_user()
    assert (await client.get(STATS, headers=student)).status_code == 403
    assert (await client.get(STATS)).status_code == 401
    _, admin = await make_user(Role.ADMIN)
    for days in (0, 91, "x"):
        response = await client.get(STATS, params={"days": days}, headers=admin)
        assert response.status_code == 422


def test_the_difference_interval_is_the_two_proportion_wald_interval() -> None:
    # 45/100 against 60/100: se = sqrt(.45 * .55 / 100 + .6 * .4 / 100) = 0.0698212
    found = difference(45, 100, 60, 100)
    assert found is not None
    assert found.estimate == pytest.approx(0.15)
    assert (found.low, found.high) == (pytest.approx(0.013153, abs=1e-6),
                                       pytest.approx(0.286847, abs=1e-6))  # fmt: skip
    wider = difference(45, 100, 60, 100, confidence=0.99)
    assert wider is not None and wider.low < found.low and wider.high > found.high
    assert difference(0, 0, 3, 10) is None
