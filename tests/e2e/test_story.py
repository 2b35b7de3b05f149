"""The product end to end, over real HTTP: a student's activity in the catalog reaches the
recommender through the outbox and the stream, a model is trained on it, and the student's
recommendations come back through the catalog; with the recommender stopped the catalog still
answers (its cached answers, else its own fallback), and personalised answers return when it is
back. One story, in file order."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.e2e.conftest import Stack, eventually
from tests.lists import same_list

pytestmark = pytest.mark.slow

EMAIL = "lea.martin@etu.example"
PASSWORD = "lea-password-2025"


def _auth(stack: Stack) -> dict[str, str]:
    return dict(stack.notes["headers"])


async def _recommend(stack: Stack, **params: Any) -> dict[str, Any]:
    response = await stack.http.get(
        "/v1/users/me/recommendations", params={"k": 5, **params}, headers=_auth(stack)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_student_activity_reaches_the_recommender(stack: Stack) -> None:
    http = stack.http
    registered = await http.post(
        "/v1/auth/register",
        json={
            "email": EMAIL,
            "password": PASSWORD,
            "full_name": "Léa Martin",
            "niveau": "L2",
            "filiere": "INFO",
        },
    )
    assert registered.status_code == 201, registered.text
    token = await http.post("/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    stack.notes["headers"] = headers
    stack.notes["user_id"] = registered.json()["id"]

    listing = await http.get(
        "/v1/epreuves", params={"filiere": "INFO", "niveau": "L2", "limit": 50}, headers=headers
    )
    assert listing.status_code == 200
    papers = [item["id"] for item in listing.json()["items"]]
    assert len(papers) >= 2
    for paper in papers:
        assert (await http.get(f"/v1/epreuves/{paper}", headers=headers)).status_code == 200
    for paper in papers[:2]:
        download = await http.get(f"/v1/epreuves/{paper}/file", headers=headers)
        assert download.status_code == 200
        assert download.content.startswith(b"%PDF-")
    stack.notes["seen"] = set(papers)
    expected = len(stack.demo.interactions) + len(papers) + 2
    # The seeded history came through the recommender's bootstrap, the student's through the
    # outbox, the relay and the stream.

    async def caught_up() -> bool:
        stats = (await stack.service.get("/v1/stats")).json()
        return bool(stats["read_model"]["interactions"] == expected)

    await eventually(caught_up, timeout_s=120, what="the recommender consumed every interaction")
    stats = (await stack.service.get("/v1/stats")).json()
    assert stats["read_model"]["items"] == len(stack.demo.epreuves)


async def test_trained_model_recommends_unseen_papers_of_the_students_filiere(
    stack: Stack,
) -> None:
    started = await stack.service.post(
        "/v1/models/train",
        json={"epochs": 20, "batch_size": 256, "embedding_dim": 32, "seed": 1},
    )
    assert started.status_code == 202, started.text
    version = started.json()["run_id"]

    async def served() -> bool:
        status = (await stack.service.get("/v1/model")).json()
        return bool(status["served_version"] == version)

    await eventually(served, timeout_s=300, what="the trained version is served", every_s=0.5)
    stack.notes["version"] = version

    body = await _recommend(stack)
    assert (body["source"], body["model_version"], body["strategy"]) == (
        "recommender",
        version,
        None,
    )
    ids = [item["id"] for item in body["items"]]
    assert len(ids) == 5
    assert not set(ids) & stack.notes["seen"]
    filieres = Counter(item["filiere"] for item in body["items"])
    assert filieres["INFO"] >= 3, body["items"]
    assert body["items"][0]["filiere"] == "INFO"
    niveaux = Counter(item["niveau"] for item in body["items"])
    assert niveaux["L2"] + niveaux["L1"] + niveaux["L3"] >= 4, body["items"]
    assert all(item["title"] and item["reason"] for item in body["items"])


async def test_with_the_recommender_stopped_cached_answers_hold_and_the_rest_falls_back(
    stack: Stack,
) -> None:
    cached = await _recommend(stack)  # asked before: the catalog's cached answer
    await stack.recommender.stop()
    assert same_list(await _recommend(stack), cached)
    refused_before = _calls("unreachable")
    body = await _recommend(stack, k=4)  # never asked: the catalog's own last resort
    assert (body["source"], body["strategy"], body["model_version"]) == (
        "fallback",
        "popularity",
        None,
    )
    # Refused at once (nothing listens), not waited for until the time budget.
    assert _calls("unreachable") == refused_before + 1
    assert not {item["id"] for item in body["items"]} & stack.notes["seen"]
    assert [item["filiere"] for item in body["items"]] == ["INFO"] * 4


def _calls(outcome: str) -> float:
    value = REGISTRY.get_sample_value("catalog_recommender_calls_total", {"outcome": outcome})
    return value or 0.0


async def test_personalised_answers_return_when_the_recommender_is_back(stack: Stack) -> None:
    await stack.restart_recommender()
    body = await _recommend(stack, k=3)  # never asked: the recommender's own answer
    assert (body["source"], body["model_version"]) == ("recommender", stack.notes["version"])
    assert not {item["id"] for item in body["items"]} & stack.notes["seen"]
