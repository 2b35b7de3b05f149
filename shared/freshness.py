"""The Redis names through which the recommender says that its answers changed.

A contract, like the events: the catalog reads them to keep its own cache of recommendations
right, and each recommender replica to keep its in-memory state right.

- `ACTIVE_POINTER_KEY` holds the active model version id; `ACTIVE_CHANNEL` carries a message at
  each activation, and at each start or end of an A/B experiment.
- `EXPERIMENT_POINTER_KEY` holds the running experiment's id (absent when none runs): answers
  name their arm, so they change when it does.
- `ITEMS_GENERATION_KEY` is bumped whenever an item changed: every answer may change then.
- `user_token_key(id)` holds a random token, replaced whenever that user's state in the read
  model changed (an interaction, a profile change); absent (read as "0") until the first change.
  It expires after `USER_TOKEN_TTL_SECONDS`, so nothing stored under a token may live longer.
- `CHANGES_CHANNEL` carries the scopes that changed, space-separated: `"u:<id>"` after a
  user's change, `"*"` after an item change, published once the keys above show the change.
"""

from __future__ import annotations

ACTIVE_POINTER_KEY = "recommender:model:active"
ACTIVE_CHANNEL = "recommender:model:changed"
EXPERIMENT_POINTER_KEY = "recommender:experiment:current"
ITEMS_GENERATION_KEY = "recommender:cache:gen"
CHANGES_CHANNEL = "recommender:changes"
USER_TOKEN_TTL_SECONDS = 2 * 24 * 3600
ABSENT = "0"


def user_token_key(user_id: int) -> str:
    return f"recommender:cache:t:{user_id}"


def user_scope(user_id: int) -> str:
    """The notice (and near-cache scope) naming one user."""
    return f"u:{user_id}"
