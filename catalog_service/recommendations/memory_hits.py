"""Repeated recommendation requests answered straight from this process's memory, before
routing.

A cached answer costs less than FastAPI's routing, parameter validation and dependencies around
it. So a GET of /v1/users/me/recommendations or /v1/epreuves/{id}/similar whose bearer token
this process verified before, whose account standing it holds (`auth.readers`), and whose exact
query string the validated route answered for that user or épreuve (nothing retired since:
`recommendations.cache`), gets those bytes here, with a fresh `recommendation_id` and its
impression recorded (`impressions.lists`). Anything else (a first request, an unknown or
revoked token, an error, other paths) goes on to the app unchanged, where every check runs with
its error.
"""

from __future__ import annotations

import re

from starlette.types import Scope

from catalog_service.auth.readers import bearer_header, reader_in_memory
from catalog_service.impressions.lists import serve
from catalog_service.recommendations.cache import item_scope
from catalog_service.recommendations.service import alias_of
from shared.freshness import user_scope
from shared.memory_hits import ID_PATTERN

_MINE = "/v1/users/me/recommendations"
_SIMILAR = re.compile(rf"/v1/epreuves/({ID_PATTERN})/similar")


def remembered(scope: Scope) -> bytes | None:
    path = scope["path"]
    similar = None if path == _MINE else _SIMILAR.fullmatch(path)
    if path != _MINE and similar is None:
        return None
    state = scope["app"].state
    answers = getattr(state, "answers", None)
    if answers is None:  # still starting
        return None
    user_id = reader_in_memory(state, bearer_header(scope))
    if user_id is None:
        return None
    alias = alias_of(scope["query_string"].decode("latin-1"))
    assert alias is not None
    if similar is None:
        listed = answers.remembered(user_scope(user_id), alias)
    else:
        listed = answers.remembered(item_scope(int(similar.group(1))), alias)
    return None if listed is None else serve(state.impressions, listed, user_id=user_id)
