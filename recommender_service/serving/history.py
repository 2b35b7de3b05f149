"""Each user's profile and recent history in this replica's memory (a bounded LRU), so that an
uncached answer reads no SQL while nothing of theirs changed.

An entry is valid for the stamp (items generation, user token) it was loaded under; the cache
lookup reads the current stamp in its one round trip. Whichever replica's consumer applies one
of the user's events replaces their token (`cache.forget`), so every replica sees its entry go
stale at once, although each event reaches one replica only. An entry also ages out after
`USER_TOKEN_TTL_SECONDS`: once a token key expires it reads "0" again, like a never-changed user.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel import impressions
from recommender_service.readmodel import service as readmodel
from recommender_service.serving.cache import Stamp
from shared.freshness import USER_TOKEN_TTL_SECONDS

RECENT = 20  # history items kept for the reasons ("because you downloaded …")


@dataclass(frozen=True)
class HistoryEntry:
    item_id: int
    kind: str
    occurred_at: datetime


@dataclass(frozen=True)
class UserActivity:
    niveau: str | None
    filiere: str | None
    recent: list[HistoryEntry]  # the latest interaction per item, most recent first
    seen: np.ndarray  # every item the user has interacted with
    # Items shown in at least ROTATION_AFTER of their lists, with how many (rotation). Read
    # with the history, and again when older than `rotation_refresh_seconds` (impressions do
    # not retire the user's entry: each answer shown is one).
    shown: dict[int, int] = field(default_factory=dict)


class Histories:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        max_users: int,
        rotation_after: int | None = None,
        rotation_refresh_seconds: float = 300.0,
    ) -> None:
        """`rotation_after`: read the items shown this often with the history (None: never)."""
        self.sessionmaker = sessionmaker
        self.max_users = max_users
        self.rotation_after = rotation_after
        self.rotation_refresh_seconds = rotation_refresh_seconds
        self.loads = 0
        # user -> (stamp, loaded at, activity, its `shown` read at)
        self._entries: OrderedDict[int, tuple[Stamp, float, UserActivity, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, user_id: int, stamp: Stamp) -> UserActivity:
        entry = self._entries.get(user_id)
        now = time.monotonic()
        fresh = entry is not None and now - entry[1] < USER_TOKEN_TTL_SECONDS
        if entry is not None and fresh and stamp.known and entry[0] == stamp:
            self._entries.move_to_end(user_id)
            if self.rotation_after is None or now - entry[3] < self.rotation_refresh_seconds:
                return entry[2]
            async with self.sessionmaker() as session:
                shown = await impressions.shown_counts(
                    session, user_id, at_least=self.rotation_after
                )
            activity = replace(entry[2], shown=shown)
            self._entries[user_id] = (entry[0], entry[1], activity, now)
            return activity
        # Autocommit: one statement needs no BEGIN and ROLLBACK around it.
        async with self.sessionmaker() as session:
            conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            rows = await readmodel.user_activity(conn, user_id, shown_at_least=self.rotation_after)
        self.loads += 1
        latest: dict[int, HistoryEntry] = {}
        for item_id, kind, occurred_at in rows.rows:
            if item_id not in latest:
                latest[item_id] = HistoryEntry(item_id, kind, occurred_at)
        loaded = UserActivity(
            rows.niveau,
            rows.filiere,
            list(latest.values())[:RECENT],
            np.fromiter(latest, dtype=np.int64, count=len(latest)),
            rows.shown,
        )
        if stamp.known and self.max_users > 0:
            self._entries[user_id] = (stamp, now, loaded, now)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.max_users:
                self._entries.popitem(last=False)
        return loaded
