"""GET /v1/users/me/recommendations and /v1/epreuves/{id}/similar against a real recommender.

The recommender is the real app on uvicorn on loopback (its read model filled from the
catalog's own outbox events, as its consumer would); "down" is a port with nothing listening,
"slow" is the same real app answering late, "refusing" is the real app with another service key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select
from starlette.requests import Request

from catalog_service.epreuves import service as epreuves_service
from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import EpreuveRead
from catalog_service.interactions.service import record_interaction
from catalog_service.outbox.models import OutboxEvent
from catalog_service.recommendations.breaker import BreakerState, CircuitBreaker
from catalog_service.recommendations.router import fast_mine
from catalog_service.recommendations.schemas import RecommendationList
from catalog_service.users.models import User
from recommender_service.config import Settings as RecommenderSettings
from recommender_service.main import create_app as create_recommender
from recommender_service.readmodel.service import apply_event
from shared.enums import Filiere, InteractionKind, Niveau, Role
from shared.events import Event
from shared.service_auth import SERVICE_KEY_HEADER
from tests.catalog.conftest import SERVICE_KEY, MakeEpreuve, MakeUser
from tests.e2e.servers import Delayed, Server, free_port

# The catalog's time budget for the recommender: cut well before a slow one's 2 s answer, and
# generous otherwise, so that a loaded machine's slow first call never turns into a fallback.
TIMEOUT_S = 0.5
GENEROUS_TIMEOUT_S = 10.0
FAILURES = 3


@dataclass
class Recommender:
    url: str
    app: Delayed | None  # None: nothing listens at `url`
    timeout_s: float = GENEROUS_TIMEOUT_S  # the catalog's budget for calling it

    @property
    def state(self) -> Any:
        assert self.app is not None
        return self.app.app.state


@pytest.fixture
def recommender_mode(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "up"))


@pytest.fixture
async def recommender(
    recommender_mode: str, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Recommender]:
    if recommender_mode == "down":
        yield Recommender(url=f"http://127.0.0.1:{free_port()}", app=None)
        return
    settings = RecommenderSettings(
        database_url=database_url,
        redis_url=redis_url,
        service_api_key="another-key" if recommender_mode == "refusing" else SERVICE_KEY,
        data_dir=tmp_path / "recommender",
        consumer_enabled=False,
        bootstrap_enabled=False,
        auto_retrain_enabled=False,
        # Its model watcher notices shutdown only between polls.
        model_poll_seconds=0.2,
    )
    app = Delayed(create_recommender(settings), delay_s=2.0 if recommender_mode == "slow" else 0)
    server = await Server(app).start()
    try:
        timeout_s = TIMEOUT_S if recommender_mode == "slow" else GENEROUS_TIMEOUT_S
        yield Recommender(url=server.url, app=app, timeout_s=timeout_s)
    finally:
        app.delay_s = 0
        await server.stop()


@pytest.fixture
def settings_overrides(recommender: Recommender) -> dict[str, Any]:
    return {
        "recommender_url": recommender.url,
        "recommender_timeout_s": recommender.timeout_s,
        "recommender_breaker_failures": FAILURES,
        "recommender_breaker_reset_s": 60.0,
    }


@dataclass
class World:
    student: dict[str, str]  # auth headers of an L2 MATH student
    student_id: int
    papers: dict[str, int]  # name → épreuve id


async def _sync(app: FastAPI, recommender: Recommender) -> None:
    """The recommender's read model catches up with the catalog's outbox (its consumer's job)."""
    if recommender.app is None:
        return
    async with app.state.sessionmaker() as session:
        rows = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all()
    async with recommender.state.sessionmaker() as session:
        for row in rows:
            event = Event(
                event_id=row.event_id,
                type=row.type,
                occurred_at=row.occurred_at,
                schema_version=row.schema_version,
                payload=row.payload,
            )
            await apply_event(session, event)
        await session.commit()


@pytest.fixture
async def world(
    app: FastAPI, make_user: MakeUser, make_epreuve: MakeEpreuve, recommender: Recommender
) -> World:
    """Five papers; other students made them popular: in L2 MATH a > b > c, then d (L3 MATH)
    and e (L2 INFO), each more viewed than any L2 MATH paper."""
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    specs = {
        "a": ("Analyse 2", Filiere.MATH, Niveau.L2, 3),
        "b": ("Analyse 2", Filiere.MATH, Niveau.L2, 2),
        "c": ("Algèbre linéaire", Filiere.MATH, Niveau.L2, 1),
        "d": ("Topologie", Filiere.MATH, Niveau.L3, 5),
        "e": ("Bases de données", Filiere.INFO, Niveau.L2, 6),
    }
    papers: dict[str, int] = {}
    for name, (matiere, filiere, niveau, _views) in specs.items():
        epreuve = await make_epreuve(
            teacher, title=f"Épreuve {name}", matiere=matiere, filiere=filiere, niveau=niveau
        )
        papers[name] = epreuve.id
    other, _ = await make_user(Role.STUDENT, niveau=Niveau.L2, filiere=Filiere.MATH)
    async with app.state.sessionmaker() as session:
        for name, (*_, views) in specs.items():
            for _ in range(views):
                await record_interaction(
                    session=session, user=other, epreuve_id=papers[name], kind=InteractionKind.VIEW
                )
    student, headers = await make_user(Role.STUDENT, niveau=Niveau.L2, filiere=Filiere.MATH)
    await _sync(app, recommender)
    return World(student=headers, student_id=student.id, papers=papers)


def _calls(outcome: str) -> float:
    """Calls to the recommender so far that ended with `outcome` (the client's counter)."""
    value = REGISTRY.get_sample_value("catalog_recommender_calls_total", {"outcome": outcome})
    return value or 0.0


def _ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


async def _student_interacts(
    app: FastAPI, world: World, epreuve_id: int, kind: InteractionKind
) -> None:
    async with app.state.sessionmaker() as session:
        user = await session.get(User, world.student_id)
        assert user is not None
        await record_interaction(session=session, user=user, epreuve_id=epreuve_id, kind=kind)


async def _recommend(client: httpx.AsyncClient, world: World, **params: Any) -> httpx.Response:
    return await client.get("/v1/users/me/recommendations", params=params, headers=world.student)


async def test_recommendations_come_from_the_recommender_on_catalog_records(
    client: httpx.AsyncClient, world: World, recommender: Recommender
) -> None:
    async with httpx.AsyncClient(base_url=recommender.url) as http:
        direct = await http.get(
            f"/v1/users/{world.student_id}/recommendations",
            params={"k": 5},
            headers={SERVICE_KEY_HEADER: SERVICE_KEY},
        )
    response = await _recommend(client, world, k=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["strategy"], body["model_version"]) == (
        "recommender",
        "popularity",
        None,
    )
    assert _ids(body) == [item["item_id"] for item in direct.json()["items"]]
    p = world.papers
    assert _ids(body)[:3] == [p["a"], p["b"], p["c"]]
    first = body["items"][0]
    assert (first["title"], first["matiere"], first["niveau"], first["views"]) == (
        "Épreuve a",
        "Analyse 2",
        "L2",
        3,
    )
    assert first["reason"] == "popular in L2 MATH"
    assert first["score"] > body["items"][2]["score"]


async def test_items_deleted_since_the_recommender_learned_them_are_dropped(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    async with app.state.sessionmaker() as session:
        epreuve = await session.get(Epreuve, world.papers["b"])
        assert epreuve is not None
        await epreuves_service.soft_delete(session=session, epreuve=epreuve)
    body = (await _recommend(client, world, k=5)).json()
    assert body["source"] == "recommender"
    p = world.papers
    assert _ids(body) == [p["a"], p["c"], p["e"], p["d"]]


async def test_items_seen_since_are_left_out_unless_asked(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    await _student_interacts(app, world, world.papers["a"], InteractionKind.DOWNLOAD)
    unseen = (await _recommend(client, world, k=3)).json()
    assert world.papers["a"] not in _ids(unseen)
    assert len(_ids(unseen)) == 3
    everything = (await _recommend(client, world, k=3, exclude_seen=False)).json()
    assert _ids(everything)[0] == world.papers["a"]


async def test_filters_reach_the_recommender_and_hold(
    client: httpx.AsyncClient, world: World
) -> None:
    info = (await _recommend(client, world, filiere="INFO")).json()
    assert _ids(info) == [world.papers["e"]]
    algebra = (await _recommend(client, world, matiere="algèbre linéaire")).json()
    assert _ids(algebra) == [world.papers["c"]]
    l3 = (await _recommend(client, world, niveau="L3", type="PARTIEL")).json()
    assert _ids(l3) == [world.papers["d"]]


async def test_similar_comes_from_the_recommender_without_the_epreuve_itself(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        f"/v1/epreuves/{world.papers['a']}/similar", params={"k": 3}, headers=world.student
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "recommender"
    assert _ids(body)[0] == world.papers["b"]  # same matière, filière and niveau
    assert world.papers["a"] not in _ids(body)
    assert len(_ids(body)) == 3


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_recommender_down_answers_popularity_of_the_users_cell_within_budget(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    await _student_interacts(app, world, world.papers["b"], InteractionKind.VIEW)
    refused = _calls("unreachable")
    response = await _recommend(client, world, k=4)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["strategy"], body["model_version"]) == (
        "fallback",
        "popularity",
        None,
    )
    p = world.papers
    # Own niveau and filière first (by popularity), then own filière, then the rest; b is seen.
    assert _ids(body) == [p["a"], p["c"], p["d"], p["e"]]
    assert [i["reason"] for i in body["items"][:3]] == [
        "popular in L2 MATH",
        "popular in L2 MATH",
        "popular in MATH",
    ]
    assert _calls("unreachable") == refused + 1  # refused at once, not waited for


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_similar_falls_back_to_the_same_matiere_when_the_recommender_is_down(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(f"/v1/epreuves/{world.papers['a']}/similar", headers=world.student)
    assert response.status_code == 200
    body = response.json()
    assert (body["source"], body["strategy"]) == ("fallback", "content")
    assert _ids(body) == [world.papers["b"], world.papers["c"]]
    assert body["items"][0]["reason"] == "same matière: Analyse 2"


@pytest.mark.parametrize("recommender_mode", ["slow"], indirect=True)
async def test_slow_recommender_is_cut_at_the_time_budget(
    client: httpx.AsyncClient, world: World, recommender: Recommender
) -> None:
    timeouts = _calls("timeout")
    response = await _recommend(client, world)
    assert response.status_code == 200
    assert response.json()["source"] == "fallback"
    assert recommender.app is not None and recommender.app.calls == 1
    # The recommender would have answered after 2 s: the call was cut at its 0.5 s budget.
    assert _calls("timeout") == timeouts + 1


@pytest.mark.parametrize("recommender_mode", ["slow"], indirect=True)
async def test_breaker_opens_after_consecutive_failures_and_stops_calling(
    app: FastAPI, client: httpx.AsyncClient, world: World, recommender: Recommender
) -> None:
    assert recommender.app is not None
    for _ in range(FAILURES):
        assert (await _recommend(client, world)).json()["source"] == "fallback"
    assert recommender.app.calls == FAILURES
    assert app.state.recommender.breaker.state is BreakerState.OPEN
    skipped = _calls("open")
    response = await _recommend(client, world)
    assert response.json()["source"] == "fallback"
    assert _calls("open") == skipped + 1  # answered without a call
    assert recommender.app.calls == FAILURES


@pytest.mark.parametrize("recommender_mode", ["slow"], indirect=True)
async def test_breaker_probes_after_the_cool_down_and_closes_when_the_recommender_recovers(
    app: FastAPI, client: httpx.AsyncClient, world: World, recommender: Recommender
) -> None:
    assert recommender.app is not None
    now = [0.0]
    breaker = app.state.recommender.breaker = CircuitBreaker(
        failure_threshold=FAILURES, reset_timeout_s=60.0, clock=lambda: now[0]
    )
    for _ in range(FAILURES):
        await _recommend(client, world)
    assert breaker.state is BreakerState.OPEN
    recommender.app.delay_s = 0  # the recommender recovers
    now[0] += 60.0  # the cool-down is over
    assert breaker.state is BreakerState.HALF_OPEN
    response = await _recommend(client, world)
    assert response.json()["source"] == "recommender"
    assert recommender.app.calls == FAILURES + 1
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("recommender_mode", ["refusing"], indirect=True)
async def test_recommender_refusing_our_key_still_gives_a_200_fallback(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await _recommend(client, world)
    assert response.status_code == 200
    assert response.json()["source"] == "fallback"


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_recommendations_need_a_signed_in_user(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/v1/users/me/recommendations")
    assert response.status_code == 401
    similar = await client.get(f"/v1/epreuves/{world.papers['a']}/similar")
    assert similar.status_code == 401


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
@pytest.mark.parametrize(
    "params",
    [
        {"k": 0},
        {"k": 101},
        {"niveau": "L9"},
        {"type": "QUIZ"},
        {"matiere": ""},
        {"exclude_seen": "maybe"},
    ],
)
async def test_invalid_parameters_are_422(
    client: httpx.AsyncClient, world: World, params: dict[str, Any]
) -> None:
    response = await _recommend(client, world, **params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_similar_of_an_unknown_epreuve_is_404(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/v1/epreuves/999999/similar", headers=world.student)
    assert response.status_code == 404


@pytest.mark.parametrize("recommender_mode", ["up", "down"], indirect=True)
async def test_each_card_is_the_epreuves_own_read_shape_with_its_score_and_reason(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    response = await _recommend(client, world, k=5)
    answer = RecommendationList.model_validate_json(response.content)  # the declared shape
    assert answer.items
    async with app.state.sessionmaker() as session:
        for position, item in enumerate(response.json()["items"], 1):
            epreuve = await epreuves_service.get_active(session=session, epreuve_id=item["id"])
            expected = EpreuveRead.model_validate(epreuve).model_dump(mode="json")
            assert item["position"] == position
            listed = {k: v for k, v in item.items() if k not in ("position", "score", "reason")}
            assert listed == expected


def _get_request(app: FastAPI, headers: dict[str, str], query: str) -> Request:
    scope = {
        "type": "http", "method": "GET", "path": "/v1/users/me/recommendations",
        "query_string": query.encode(), "app": app,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    return Request(scope)


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_the_fast_path_leaves_unknown_readers_and_odd_queries_to_the_route(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    assert await fast_mine(_get_request(app, world.student, "k=3")) is None  # never verified
    assert (await _recommend(client, world, k=2)).status_code == 200  # the route verifies it
    for query in ("k=0", "k=abc", "foo=1", "k=1&k=2", "exclude_seen=maybe"):
        assert await fast_mine(_get_request(app, world.student, query)) is None, query
    answered = await fast_mine(_get_request(app, world.student, "k=3"))
    assert answered is not None and answered.status_code == 200
    assert len(RecommendationList.model_validate_json(bytes(answered.body)).items) == 3


async def test_the_fast_path_answers_as_the_route_does(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """The same parameters through the route (a repeated parameter, which only the route
    reads) and through the fast path: the same list, from the recommender."""
    assert (await _recommend(client, world, k=2)).status_code == 200  # the reader is known now
    routed = await client.get(
        "/v1/users/me/recommendations?k=4&k=4&exclude_seen=false", headers=world.student
    )
    fast = await fast_mine(_get_request(app, world.student, "k=4&exclude_seen=false"))
    assert routed.status_code == 200 and fast is not None and fast.status_code == 200
    by_route = RecommendationList.model_validate_json(routed.content)
    by_fast = RecommendationList.model_validate_json(bytes(fast.body))
    assert by_fast.source == by_route.source == "recommender"
    assert [i.id for i in by_fast.items] == [i.id for i in by_route.items]
    assert by_fast.recommendation_id != by_route.recommendation_id  # each answer its own
