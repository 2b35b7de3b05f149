"""What the API calls: recommendations and similar items, as the response bytes.

A hit (this process's memory, else Redis) is the stored bytes as they are. A miss takes the
item table and the user's activity from memory (SQL only when the lookup's stamp says they are
stale), runs the chain (`recommend`, `similar`), and serialises the answer once, with
pydantic-core's `to_json` on plain data, for the response and both cache layers.

Every answer, a hit or not, leaves with a fresh `recommendation_id` put in front of the stored
bytes. During an A/B experiment the user's arm decides the model (`holder.route`); the answer
names its arm, and the version and experiment are part of every cache key.
"""

from __future__ import annotations

import time
import uuid
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
from recommender_service.serving.rerank import Rotation
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

    @property
    def rotation(self) -> Rotation:
        return Rotation(self.settings.rotation_after, self.settings.rotation_factor)


def query_key(tag: str, raw_query: str) -> str:
    """The memory key of a request's exact query string (for `remembered`)."""
    return f"q|{tag}|{raw_query}"


def remembered(
    serving: Serving, endpoint: str, scope: str, raw_query: str, *, user_id: int | None = None
) -> bytes | None:
    """The answer to a request repeated exactly (same path, same query string), if this process
    still holds it; counted and timed like any other answer. `user_id`: whose arm it is."""
    started = time.perf_counter()
    if user_id is None:
        tag = _tag(serving.holder.current, None)
    else:
        model, _, experiment_id = serving.holder.route(user_id)
        tag = _tag(model, experiment_id)
    found = serving.cache.remembered(scope, query_key(tag, raw_query))
    if found is None:
        return None
    serving.served[f"{endpoint}:{found[0]}"] += 1
    _TIMERS[endpoint, True].observe(time.perf_counter() - started)
    return with_id(found[1])


def with_id(body: bytes) -> bytes:
    """The stored answer with this answer's own id in front."""
    return b'{"recommendation_id":"' + str(uuid.uuid4()).encode() + b'",' + body[1:]


async def recommendations(
    *,
    serving: Serving,
    user_id: int,
    k: int,
    exclude_seen: bool,
    filters: ItemFilters,
    diversity: float = 0.0,
    raw_query: str | None = None,
) -> bytes:
    started = time.perf_counter()
    model, arm, experiment_id = serving.holder.route(user_id)
    tag = _tag(model, experiment_id)
    scope = serving.cache.user_scope(user_id)
    key = f"{tag}|k{k}|x{int(exclude_seen)}|d{diversity:g}|{filters.cache_key()}"
    alias = query_key(tag, raw_query) if raw_query is not None else None
    found = await serving.cache.lookup(scope, key, token_key=user_token_key(user_id), alias=alias)
    hit = found.body is not None
    if not hit:
        table = await serving.items.current(found.stamp.generation)
        activity = await serving.histories.get(user_id, found.stamp)
        ranked = recommend(
            active=model, table=table, activity=activity, user_id=user_id, k=k,
            exclude_seen=exclude_seen, filters=filters, diversity=diversity,
            rotation=serving.rotation, min_similarity=serving.settings.reason_min_similarity,
        )  # fmt: skip
        head = {"user_id": user_id, "arm": arm, "experiment_id": experiment_id}
        found = await _store(serving, found, scope, key, alias, head, ranked, table)
    return _served(serving, "recommendations", found, hit, started)


async def similar_items(
    *,
    serving: Serving,
    item_id: int,
    k: int,
    diversity: float = 0.0,
    raw_query: str | None = None,
) -> bytes:
    started = time.perf_counter()
    active = serving.holder.current
    tag = _tag(active, None)
    scope = serving.cache.item_scope(item_id)
    key = f"{tag}|k{k}|d{diversity:g}"
    alias = query_key(tag, raw_query) if raw_query is not None else None
    found = await serving.cache.lookup(scope, key, token_key=item_token_key(item_id), alias=alias)
    hit = found.body is not None
    if not hit:
        table = await serving.items.current(found.stamp.generation)
        ranked = similar(active=active, table=table, item_id=item_id, k=k, diversity=diversity)
        head = {"item_id": item_id, "arm": None, "experiment_id": None}
        found = await _store(serving, found, scope, key, alias, head, ranked, table)
    return _served(serving, "similar", found, hit, started)


def _tag(model: ActiveModel | None, experiment_id: int | None) -> str:
    # Part of every cache key: a new model version never serves the old one's answers, and an
    # answer naming an arm is not served once its experiment ended.
    return f"v{model.version_id if model else 'none'}|e{experiment_id or 0}"


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
    return with_id(found.body)


def _ttl(serving: Serving, ranked: Ranked) -> int:
    # Fallback answers follow the read model (popularity moves): a short life.
    if ranked.fallback in (Strategy.POPULARITY, Strategy.CONTENT):
        return serving.settings.fallback_cache_ttl_seconds
    return serving.settings.cache_ttl_seconds


def _body(ranked: Ranked, table: ItemTable) -> dict[str, Any]:
    items = []
    for position, scored in enumerate(ranked.items, 1):
        reason = scored.reason
        if scored.anchor is not None:
            title = table.card(scored.anchor)["title"]
            reason = reason.replace("{anchor}", title or f"#{scored.anchor}")
        items.append(
            {
                "item_id": scored.item_id,
                "position": position,
                "score": round(scored.score, 6),
                "reason": reason,
            }
            | table.card(scored.item_id)
        )
    return {"model_version": ranked.model_version, "fallback": ranked.fallback, "items": items}
