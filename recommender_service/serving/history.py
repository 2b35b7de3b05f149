"""Each user's profile and recent history in this replica's memory (a bounded LRU), so that an
uncached answer reads no SQL while nothing of theirs changed, and none after an interaction.

An entry is valid for the stamp (items generation, user token) it holds; the cache lookup reads
the current stamp in its one round trip. Whichever replica's consumer applies one of the user's
events replaces their token (`cache.forget`), so an entry no replica moved goes stale at once
on every replica, although each event reaches one replica only.

The invariant: an entry is valid under token T only if it holds every interaction committed
before T was set, except those whose own token swap is still to come (two consumers racing on
one user: the later swap, moments away, replaces T anyway; until then the answer is as if that
interaction's event were still in the stream). A load reads SQL after reading T, so it holds
them all. Moving an entry (`advance`) keeps it: the forget script reads the old token and sets
the new one atomically, after the commit, and the entry moves only if it was valid under exactly
that old token, by applying the interactions this swap announced; otherwise it is dropped and
reloaded on demand. A profile change or a deletion drops it. Applying an interaction is
idempotent (the latest interaction per item, the set of items seen): a load may already hold it.

The replica whose consumer swapped moves its entries before any of its lookups can use the new
token (`swapping`: a lookup that already read it waits for the script's answer, one Redis round
trip, instead of reloading); the others move theirs when they hear the swap (`history_feed`),
and a lookup that reads the new token before that reloads.

An entry is reloaded whole `rotation_refresh_seconds` (5 min) after its load, however often it
moved since: that refreshes its shown counts (rotation), and bounds how long a history can miss
an interaction whose own swap was lost (the consumer died between its commit and its script, or
Redis failed it; the consumer then also drops that user's entries at its next swap). Moving an
entry along valid swaps only would never repair such a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel import service as readmodel
from recommender_service.readmodel.service import Interacted
from recommender_service.serving.cache import Stamp
from recommender_service.serving.history_feed import Swap
from shared.freshness import USER_TOKEN_TTL_SECONDS

SWAP_WAIT_SECONDS = 0.5
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
    seen: np.ndarray  # every item the user has interacted with, sorted
    # Items shown in at least ROTATION_AFTER of their lists, with how many (rotation). Read
    # with the history, which is reloaded after `rotation_refresh_seconds` (impressions do not
    # retire the user's entry: each answer shown is one).
    shown: dict[int, int] = field(default_factory=dict)

    def having(self, interactions: Iterable[Interacted]) -> UserActivity:
        """This activity with `interactions` applied; those it holds already change nothing."""
        latest = {h.item_id: h for h in self.recent}
        items = []
        for item_id, kind, occurred_at in interactions:
            items.append(item_id)
            held = latest.get(item_id)
            if held is None or held.occurred_at < occurred_at:
                latest[item_id] = HistoryEntry(item_id, kind, occurred_at)
        # An item past the RECENT latest can only come back with a newer interaction: one of these.
        recent = sorted(latest.values(), key=lambda h: h.occurred_at, reverse=True)[:RECENT]
        seen = np.union1d(self.seen, np.asarray(items, dtype=np.int64))
        return replace(self, recent=recent, seen=seen)


class _Entry(NamedTuple):
    stamp: Stamp
    since: float  # loaded at (monotonic)
    activity: UserActivity


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
        self.max_age_seconds = min(rotation_refresh_seconds, USER_TOKEN_TTL_SECONDS)
        self.origin = secrets.token_hex(8)  # this replica, in the history feed
        self.loads = 0
        self.advances = 0
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        # user -> (the new token being set, set once its entry moved or went): see `swapping`
        self._swapping: dict[int, tuple[str, asyncio.Event]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, user_id: int, stamp: Stamp) -> UserActivity:
        swapping = self._swapping.get(user_id)
        if swapping is not None and swapping[0] == stamp.token:
            # One Redis round trip away; a lost reply must not hold the request: then reload.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(swapping[1].wait(), SWAP_WAIT_SECONDS)
        entry = self._entries.get(user_id)
        now = time.monotonic()
        fresh = entry is not None and now - entry.since < self.max_age_seconds
        if entry is not None and fresh and stamp.known and entry.stamp == stamp:
            self._entries.move_to_end(user_id)
            return entry.activity
        loaded = await self._load(user_id)
        # An entry moved (or stored) while this one loaded is kept: this one may be older.
        if stamp.known and self.max_users > 0 and self._entries.get(user_id) is entry:
            self._entries[user_id] = _Entry(stamp, now, loaded)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.max_users:
                self._entries.popitem(last=False)
        return loaded

    async def _load(self, user_id: int) -> UserActivity:
        # Autocommit: one statement needs no BEGIN and ROLLBACK around it.
        async with self.sessionmaker() as session:
            conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            rows = await readmodel.user_activity(conn, user_id, shown_at_least=self.rotation_after)
        self.loads += 1
        latest: dict[int, HistoryEntry] = {}
        for item_id, kind, occurred_at in rows.rows:
            if item_id not in latest:
                latest[item_id] = HistoryEntry(item_id, kind, occurred_at)
        seen = np.sort(np.fromiter(latest, dtype=np.int64, count=len(latest)))
        return UserActivity(
            rows.niveau, rows.filiere, list(latest.values())[:RECENT], seen, rows.shown
        )

    def advance(self, swaps: Iterable[Swap]) -> None:
        """Moves each user's entry from the swap's old token to its new one, applying the swap's
        interactions, if the entry was valid under exactly that old token; drops it otherwise,
        or when the swap says so. The publishing replica and the others both come here."""
        for swap in swaps:
            entry = self._entries.get(swap.user_id)
            if entry is None:
                continue
            if swap.interactions is None or entry.stamp.token != swap.old:
                del self._entries[swap.user_id]
                continue
            # `since` stays the load's time: see the module docstring.
            self._entries[swap.user_id] = entry._replace(
                stamp=replace(entry.stamp, token=swap.new),
                activity=entry.activity.having(swap.interactions),
            )
            self.advances += 1

    @contextlib.contextmanager
    def swapping(self, tokens: Mapping[int, str]) -> Iterator[None]:
        """Around the forget script setting these users' new tokens, and this replica's
        `advance`: a lookup that read a new token meanwhile waits until the entry moved, rather
        than reloading it. If the script fails, the tokens may have moved: the entries go."""
        done = asyncio.Event()
        for user_id, token in tokens.items():
            self._swapping[user_id] = (token, done)
        try:
            yield
        except BaseException:
            for user_id in tokens:
                self._entries.pop(user_id, None)
            raise
        finally:
            for user_id, token in tokens.items():
                if self._swapping.get(user_id, ("", done))[0] == token:
                    del self._swapping[user_id]
            done.set()
