"""POST /v1/interactions' fast path (`interactions.router.fast_create`, tried before routing):
it answers a request exactly as the route would, and leaves every request it is not sure about
to the route."""

import json
import re

import httpx
import pytest
from sqlalchemy import func, select
from starlette.requests import Request

from catalog_service.interactions.models import Interaction
from catalog_service.interactions.router import fast_create


def _request(app, body: bytes, headers: dict[str, str]) -> Request:
    scope = {
        "type": "http", "method": "POST", "path": "/v1/interactions", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "app": app,
    }  # fmt: skip

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def test_the_fast_answer_is_the_routes_answer(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    """The same interaction twice: as plain `application/json` (the fast path) and as
    `application/vnd.epreuves+json`, which only FastAPI's handler parses as JSON."""
    epreuve = await make_epreuve()
    user, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "RATE", "relevance": 4, "metadata": {"é": [1]}}
    answers = []
    for content_type in ("application/json", "application/vnd.epreuves+json"):
        answers.append(
            await client.post(
                "/v1/interactions",
                content=json.dumps(body),
                headers={**headers, "Content-Type": content_type},
            )
        )
    fast, framework = answers
    assert (fast.status_code, framework.status_code) == (201, 201)
    assert fast.headers["content-type"] == framework.headers["content-type"]
    first, second = fast.json(), framework.json()
    assert second["id"] > first["id"]
    differing = {"id", "created_at"}
    assert {k: v for k, v in first.items() if k not in differing} == {
        k: v for k, v in second.items() if k not in differing
    }
    assert first.keys() == second.keys()
    assert (first["user_id"], first["metadata"], first["relevance"]) == (user.id, {"é": [1]}, 4)
    stored = (await session.scalars(select(Interaction.id).order_by(Interaction.id))).all()
    assert stored == [first["id"], second["id"]]


_VIEW = b'{"epreuve_id": %d, "kind": "VIEW"}'
_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("token", "body", "headers"),
    [
        (False, _VIEW, _JSON),
        (True, _VIEW, {"Content-Type": "text/plain"}),
        (True, _VIEW, {"Content-Type": "application/vnd.epreuves+json"}),
        (True, _VIEW, {}),
        (True, b'{"epreuve_id": %d, "kind": ', _JSON),
        (True, b'{"epreuve_id": "%d", "kind": "VIEW"}', _JSON),
        (True, b'{"epreuve_id": %d, "kind": "VIEW", "extra": 1}', _JSON),
        (True, b"[]", _JSON),
        (True, b"", _JSON),
    ],
    ids=["no-token", "text-plain", "other-json-type", "no-content-type", "bad-json", "string-id",
         "extra-field", "list", "empty"],
)  # fmt: skip
async def test_a_request_the_fast_path_is_unsure_of_is_left_to_the_route(
    app, make_user, make_epreuve, session, token: bool, body: bytes, headers: dict[str, str]
) -> None:
    epreuve = await make_epreuve()  # the bodies name it: one the route would accept is written
    _, auth = await make_user()
    body = body % epreuve.id if b"%d" in body else body
    request = _request(app, body, {**(auth if token else {}), **headers})
    assert await fast_create(request) is None
    assert await session.scalar(select(func.count()).select_from(Interaction)) == 0


async def test_declined_requests_get_the_routes_errors(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    missing = await client.post(
        "/v1/interactions", json={"epreuve_id": epreuve.id, "kind": "VIEW"}
    )  # no token: the route's dependency refuses it
    assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
    invalid = await client.post(
        "/v1/interactions", json={"epreuve_id": epreuve.id, "kind": "LIKE"}, headers=headers
    )
    assert invalid.status_code == 422
    assert [d["field"] for d in invalid.json()["details"]] == ["kind"]
    broken = await client.post(
        "/v1/interactions",
        content=b'{"epreuve_id": ',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["code"] == "validation_error"


async def _posts_counted(client: httpx.AsyncClient) -> dict[int, float]:
    """catalog_http_requests_total of POST /v1/interactions, by status (the registry is the
    process's: other tests count in it too)."""
    text = (await client.get("/metrics")).text
    series = r'catalog_http_requests_total\{method="POST",route="/v1/interactions",status="(\d+)"\}'
    return {int(m[1]): float(m[2]) for m in re.finditer(series + r" ([0-9.e+]+)", text)}


async def test_the_early_answer_counts_in_the_routes_metrics(
    client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    """Answered before routing (`shared.fast_path.EarlyAnswers`), a 201 and a 404 are still
    counted under the route's template."""
    epreuve = await make_epreuve()
    _, headers = await make_user()
    before = await _posts_counted(client)
    created = await client.post(
        "/v1/interactions", json={"epreuve_id": epreuve.id, "kind": "VIEW"}, headers=headers
    )
    missing = await client.post(
        "/v1/interactions", json={"epreuve_id": epreuve.id + 1000, "kind": "VIEW"}, headers=headers
    )
    assert (created.status_code, missing.status_code) == (201, 404)
    assert missing.json()["code"] == "epreuve_not_found"
    after = await _posts_counted(client)
    assert {s: after[s] - before.get(s, 0.0) for s in after} == {
        **{s: 0.0 for s in before},
        201: 1.0,
        404: 1.0,
    }
