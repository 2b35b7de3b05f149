"""Serving: the active model held in memory, personalised and similar items, cold-start
fallbacks, and the Redis result cache. Never trains."""
