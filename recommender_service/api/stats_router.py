"""GET /v1/stats: read-model counts, cache, consumer and serving counters of this replica."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from redis.exceptions import RedisError

from recommender_service.api.dependencies import ServingDep, SessionDep
from recommender_service.api.schemas import Stats
from recommender_service.readmodel.service import counts

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=Stats, summary="Read-model and serving statistics")
async def stats(request: Request, session: SessionDep, serving: ServingDep) -> Stats:
    consumer = request.app.state.consumer
    consumer_stats: dict[str, Any] = {"enabled": consumer is not None}
    if consumer is not None:
        consumer_stats |= vars(consumer.stats)
        with contextlib.suppress(RedisError, OSError):
            consumer_stats |= await consumer.lag()
    return Stats(
        read_model=await counts(session),
        cache={
            "hits": serving.cache.hits,
            "memory_hits": serving.cache.memory.hits,
            "misses": serving.cache.misses,
        },
        consumer=consumer_stats,
        serving={
            "model_version": serving.holder.version_id,
            "model_swaps": serving.holder.swaps,
            "requests": dict(serving.served),
            "users_in_memory": len(serving.histories),
            "history_loads": serving.histories.loads,
            "history_advances": serving.histories.advances,
            "item_table_loads": serving.items.loads,
        },
    )
