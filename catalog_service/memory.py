"""This process's memory layer (`shared.nearcache`): one subscription, for the catalog's own
change notices (recommendation answers, account standings), the recommender's, and model
activations. The lifespan creates it; `recommendations.cache` and `auth.standing` keep their
entries in it, each under its own scopes (`u:<id>` and `i:<id>` for answers, `a:<id>` for
standings)."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.freshness import ACTIVE_CHANNEL, CHANGES_CHANNEL
from shared.nearcache import NearCache

CHANNEL = "catalog:changes"


def make_memory(redis: aioredis.Redis, *, max_entries: int) -> NearCache:
    return NearCache(
        redis,
        scope_channels=[CHANNEL, CHANGES_CHANNEL],
        clear_channels=[ACTIVE_CHANNEL],
        max_entries=max_entries,
    )
