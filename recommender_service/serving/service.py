"""What the API calls: recommendations and similar items, as the response bytes.

A hit (this process's memory, else Redis) is the stored bytes as they are. A miss takes the
item table and the user's activity from memory (SQL only when the lookup's stamp says they are
stale), runs the chain (`recommend`, `similar`), and serialises the answer once, with
pydantic-core's `to_json` on plain data, for the response and both cache layers.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram
from pydantic_core import to_json

from recommender_service.config import Settings
from recommender_service.serving.cache import Found, ResultCache, item_token_key
from recommender_service.serving.history import Histories
from recommender_service.serving.holder import ActiveModel, ModelHolder
from recommender_service.serving.items import ItemFilters, ItemStore, ItemTable
from recommender_service.serving.recommend import Ranked, recommend
from recommender_service.serving.similar import similar
from shared.freshness import user_token_key
from shared.recommendations import Strategy

LATENCY = Histogram(
    "recommender_serving_seconds",
    "Time to answer a serving request (cache included)",
    ["endpoint", "cached"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
_TIMERS = {
    (endpoint, hit): LATENCY.labels(endpoint, str(hit).lower())
    for endpoint in ("recommendations", "similar")
    for hit in (True, False)
}


@dataclass
class Serving:
    """The serving state of one replica: model, caches, in-memory read model, counters."""

    holder: ModelHolder
    cache: ResultCache
    items: ItemStore
    histories: Histories
    settings: Settings
    served: Tally[str] = field(default_factory=Tally)


def query_key(active: ActiveModel | None, raw_query: str) -> str:
    """The memory key of a request's exact query string (for `remembered`)."""
    return f"q|v{_version(active)}|{raw_query}"


def remembered(serving: Serving, endpoint: str, scope: str, raw_query: str) -> bytes | None:
    """The answer to a request repeated exactly (same path, same query string), if this process
    still holds it; counted and timed like any other answer."""
    started = time.perf_counter()
    found = serving.cache.remembered(scope, query_key(serving.holder.current, raw_query))
    if found is None:
        return None
    serving.served[f"{endpoint}:{found[0]}"] += 1
    _TIMERS[endpoint, True].observe(time.perf_counter() - started)
    return found[1]


async def recommendations(
    *,
    serving: Serving,
    user_id: int,
    k: int,
    exclude_seen: bool,
    filters: ItemFilters,
    raw_query: str | None = None,
) -> bytes:
    started = time.perf_counter()
    active = serving.holder.current
    scope = serving.cache.user_scope(user_id)
    key = f"v{_version(active)}|k{k}|x{int(exclude_seen)}|{filters.cache_key()}"
    alias = query_key(active, raw_query) if raw_query is not None else None
    found = await serving.cache.lookup(scope, key, token_key=user_token_key(user_id), alias=alias)
    hit = found.body is not None
    if not hit:
        table = await serving.items.current(found.stamp.generation)
        activity = await serving.histories.get(user_id, found.stamp)
        ranked = recommend(
            active=active, table=table, activity=activity, user_id=user_id, k=k,
            exclude_seen=exclude_seen, filters=filters,
        )  # fmt: skip
        head = {"user_id": user_id}
        found = await _store(serving, found, scope, key, alias, head, ranked, table)
    return _served(serving, "recommendations", found, hit, started)


async def similar_items(
    *, serving: Serving, item_id: int, k: int, raw_query: str | None = None
) -> bytes:
    started = time.perf_counter()
    active = serving.holder.current
    scope = serving.cache.item_scope(item_id)
    key = f"v{_version(active)}|k{k}"
    alias = query_key(active, raw_query) if raw_query is not None else None
    found = await serving.cache.lookup(scope, key, token_key=item_token_key(item_id), alias=alias)
    hit = found.body is not None
    if not hit:
        table = await serving.items.current(found.stamp.generation)
        ranked = similar(active=active, table=table, item_id=item_id, k=k)
        head = {"item_id": item_id}
        found = await _store(serving, found, scope, key, alias, head, ranked, table)
    return _served(serving, "similar", found, hit, started)


def _version(active: ActiveModel | None) -> int | str:
    # Part of every cache key: a new model version never serves the old one's answers.
    return active.version_id if active else "none"


async def _store(
    serving: Serving,
    found: Found,
    scope: str,
    key: str,
    alias: str | None,
    head: dict[str, Any],
    ranked: Ranked,
    table: ItemTable,
) -> Found:
    body = to_json({"cached": False, **head, **_body(ranked, table)})
    label = ranked.fallback.value if ranked.fallback else "model"
    await serving.cache.store(
        found, scope, key, body, label=label, ttl_seconds=_ttl(serving, ranked), alias=alias
    )
    return Found(body, label, found.stamp, found.mark)


def _served(serving: Serving, endpoint: str, found: Found, hit: bool, started: float) -> bytes:
    assert found.body is not None
    serving.served[f"{endpoint}:{found.label}"] += 1
    _TIMERS[endpoint, hit].observe(time.perf_counter() - started)
    return found.body


def _ttl(serving: Serving, ranked: Ranked) -> int:
    # Fallback answers follow the read model (popularity moves): a short life.
    if ranked.fallback in (Strategy.POPULARITY, Strategy.CONTENT):
        return serving.settings.fallback_cache_ttl_seconds
    return serving.settings.cache_ttl_seconds


def _body(ranked: Ranked, table: ItemTable) -> dict[str, Any]:
    items = []
    for scored in ranked.items:
        reason = scored.reason
        if scored.anchor is not None:
            title = table.card(scored.anchor)["title"]
            reason = reason.replace("{anchor}", title or f"#{scored.anchor}")
        items.append(
            {"item_id": scored.item_id, "score": round(scored.score, 6), "reason": reason}
            | table.card(scored.item_id)
        )
    return {"model_version": ranked.model_version, "fallback": ranked.fallback, "items": items}
