"""Every item of the read model in this replica's memory, as numpy columns.

Filters are vector comparisons, cards a list lookup, popularity one array: an uncached answer
reads no SQL for items. The table is reloaded when the items generation that the cache lookup
read has moved (some replica's consumer applied an item change, `cache.forget`), and every
`refresh_seconds` anyway, because popularity moves with every interaction and with time (that
reload runs in the background while the old table serves). However many requests need a
reload, one runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel import service as readmodel
from recommender_service.serving.cache import UNAVAILABLE

log = logging.getLogger(__name__)

_MASKS_KEPT = 256  # filter combinations remembered per table
CARD_FIELDS = ("title", "matiere", "filiere", "niveau", "type", "annee")
_NO_CARD: dict[str, Any] = dict.fromkeys(CARD_FIELDS)


@dataclass(frozen=True)
class ItemFilters:
    niveau: str | None = None
    filiere: str | None = None
    type: str | None = None
    matiere: str | None = None

    def cache_key(self) -> str:
        parts = (self.niveau, self.filiere, self.type, (self.matiere or "").lower())
        return ",".join(p or "" for p in parts)


class ItemTable:
    def __init__(
        self, rows: Sequence[Any], popularity: dict[int, float], *, generation: str, started: float
    ) -> None:
        self.ids = np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows))
        self.active = np.fromiter((r.is_active for r in rows), dtype=bool, count=len(rows))
        self.niveau = np.array([r.niveau for r in rows], dtype=str)
        self.filiere = np.array([r.filiere for r in rows], dtype=str)
        self.type = np.array([r.type for r in rows], dtype=str)
        self.matiere = np.array([r.matiere.lower() for r in rows], dtype=str)
        self.annee = np.fromiter((r.annee for r in rows), dtype=np.int64, count=len(rows))
        self.latest_annee = int(self.annee[self.active].max()) if self.active.any() else 0
        # As shown in every answer (read-only: callers merge them into new dicts).
        self.cards = [{field: getattr(r, field) for field in CARD_FIELDS} for r in rows]
        self.popularity = np.array([popularity.get(int(i), 0.0) for i in self.ids])
        self._rows = {int(item_id): row for row, item_id in enumerate(self.ids)}
        self.all_rows = np.arange(len(self.ids), dtype=np.int64)
        self.generation = generation
        self.started = started  # when its SQL was read (monotonic)
        self._masks: dict[ItemFilters, np.ndarray] = {}
        self._model_rows: dict[int, np.ndarray] = {}
        self._popular: dict[tuple[str, str, float], float] = {}

    @cached_property
    def metas(self) -> dict[int, dict[str, Any]]:
        """What a model with side features reads of an item it never saw in training (built on
        first use: most models have no features)."""
        return {int(i): card for i, card in zip(self.ids, self.cards, strict=True)}

    def rows_of(self, item_ids: np.ndarray) -> np.ndarray:
        """Each id's row in the table, -1 for an id the read model does not hold."""
        pos = np.searchsorted(self.ids, item_ids)
        pos = np.minimum(pos, max(len(self.ids) - 1, 0))
        found = (self.ids[pos] == item_ids) if len(self.ids) else np.zeros(len(item_ids), bool)
        return np.where(found, pos, -1)

    def row(self, item_id: int) -> int | None:
        return self._rows.get(item_id)

    def eligible(self, filters: ItemFilters) -> np.ndarray:
        """Per row: active and passing the filters."""
        mask = self._masks.get(filters)
        if mask is None:
            mask = self.active.copy()
            if filters.niveau:
                mask &= self.niveau == filters.niveau
            if filters.filiere:
                mask &= self.filiere == filters.filiere
            if filters.type:
                mask &= self.type == filters.type
            if filters.matiere:
                mask &= self.matiere == filters.matiere.lower()
            if len(self._masks) >= _MASKS_KEPT:
                self._masks.clear()
            self._masks[filters] = mask
        return mask

    def allows(self, item_ids: np.ndarray, filters: ItemFilters) -> np.ndarray:
        """Per id: held by the read model, active and passing the filters."""
        rows = self.rows_of(item_ids)
        return (rows >= 0) & self.eligible(filters)[np.maximum(rows, 0)]

    def model_rows(self, version_id: int, item_ids: np.ndarray) -> np.ndarray:
        """`rows_of` the model's items, computed once per version."""
        rows = self._model_rows.get(version_id)
        if rows is None:
            rows = self._model_rows[version_id] = self.rows_of(item_ids)
        return rows

    def popular_threshold(self, niveau: str, filiere: str, share: float) -> float:
        """The popularity above which an active item is in the top `share` of its niveau and
        filière (inf when nobody has used any: nothing there is popular yet)."""
        key = (niveau, filiere, share)
        threshold = self._popular.get(key)
        if threshold is None:
            group = self.popularity[
                self.active & (self.niveau == niveau) & (self.filiere == filiere)
            ]
            used = group[group > 0]
            # Never below the least-used paper someone used: an untouched paper is not popular.
            threshold = (
                max(float(np.quantile(group, 1 - share)), float(used.min()))
                if len(used)
                else np.inf
            )
            self._popular[key] = threshold
        return threshold

    def card(self, item_id: int) -> dict[str, Any]:
        row = self._rows.get(item_id)
        return self.cards[row] if row is not None else _NO_CARD


class ItemStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        half_life_days: float,
        refresh_seconds: float,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.half_life_days = half_life_days
        self.refresh_seconds = refresh_seconds
        self.table: ItemTable | None = None
        self.loads = 0
        self._loading: dict[str, asyncio.Task[ItemTable]] = {}

    async def current(self, generation: str) -> ItemTable:
        """The table for the items generation a lookup just read (UNAVAILABLE: whatever is
        held, when Redis cannot say)."""
        table = self.table
        if table is not None and generation in (table.generation, UNAVAILABLE):
            if time.monotonic() - table.started > self.refresh_seconds:
                self._load_soon(table.generation)
            return table
        # A load for this generation was started by someone who had read it: its SQL follows
        # the change, so its table is current for this caller too.
        task = self._loading.get(generation) or self._load_soon(generation)
        return await asyncio.shield(task)

    def _load_soon(self, generation: str) -> asyncio.Task[ItemTable]:
        task = self._loading.get(generation)
        if task is None:
            task = self._loading[generation] = asyncio.create_task(self._load(generation))
            task.add_done_callback(lambda t: self._loaded(generation, t))
        return task

    def _loaded(self, generation: str, task: asyncio.Task[ItemTable]) -> None:
        self._loading.pop(generation, None)
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:
            log.warning("item table: reload failed (%s)", exc)

    async def _load(self, generation: str) -> ItemTable:
        started = time.monotonic()
        async with self.sessionmaker() as session:
            rows = await readmodel.items(session)
            popularity = await readmodel.popularity(session, half_life_days=self.half_life_days)
        table = ItemTable(rows, popularity, generation=generation, started=started)
        if self.table is None or started >= self.table.started:
            self.table = table
        self.loads += 1
        return table
