"""The active model of this replica, swapped atomically when another version becomes active;
and, while an A/B experiment runs, its candidate version beside it (`route` says which one
serves a user, by the stable hash of `serving.arms`).

Each version comes with its neighbour table and a memory of the scores it gave lately. The swap
is one reference assignment: a request that already took `holder.current` finishes on
the old model, the next one gets the new; no request fails and no lock is needed. An artefact
that cannot be loaded is not swapped in: the replica goes on serving the model it holds (or the
fallbacks), and does not retry that version on every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import redis.asyncio as aioredis
from prometheus_client import Gauge
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.registry import experiments
from recommender_service.registry import service as registry
from recommender_service.registry.models import ModelVersion
from recommender_service.serving.arms import arm_of
from recommender_service.serving.neighbours import Neighbours
from shared.enums import Arm
from shared.freshness import ACTIVE_CHANNEL

if TYPE_CHECKING:
    from recommender_service.ml.artifact import TrainedModel

log = logging.getLogger(__name__)

ACTIVE_VERSION = Gauge("recommender_active_model_version", "Model version this replica serves")


class UserScores:
    """A version's scores of the users it served lately: they depend on (version, user) only,
    so another request of the same user (other parameters, a new interaction) reuses them.
    Bounded by the number of floats held."""

    def __init__(self, model: TrainedModel, *, max_floats: int = 2_000_000) -> None:
        self.model = model
        self.max_users = max(1, max_floats // max(len(model.item_ids), 1))
        self._scores: OrderedDict[int, np.ndarray | None] = OrderedDict()

    def get(self, user_id: int) -> np.ndarray | None:
        if user_id in self._scores:
            self._scores.move_to_end(user_id)
            return self._scores[user_id]
        scores = self.model.scores_for_user(user_id)
        self._scores[user_id] = scores
        if len(self._scores) > self.max_users:
            self._scores.popitem(last=False)
        return scores


@dataclass(frozen=True)
class ActiveModel:
    version_id: int
    algorithm: str
    created_at: datetime
    data_snapshot_at: datetime | None
    model: TrainedModel
    known_items: frozenset[int]
    neighbours: Neighbours
    scores: UserScores
    unit_vectors: np.ndarray  # the item embeddings at unit length, the model's item order


@dataclass(frozen=True)
class Candidate:
    """The running experiment as this replica serves it."""

    experiment_id: int
    traffic: float
    model: ActiveModel


class ModelHolder:
    def __init__(self) -> None:
        self.current: ActiveModel | None = None
        self.experiment: Candidate | None = None
        self.swaps = 0
        self.unloadable: int | None = None  # the last active version whose artefact failed
        self._no_candidate: int | None = None  # an experiment whose candidate failed to load

    def route(self, user_id: int) -> tuple[ActiveModel | None, Arm | None, int | None]:
        """The model that serves this user, their arm and the experiment (None, None without)."""
        current, experiment = self.current, self.experiment
        if experiment is None or current is None:
            return current, None, None
        if arm_of(experiment.experiment_id, user_id, experiment.traffic) is Arm.CANDIDATE:
            return experiment.model, Arm.CANDIDATE, experiment.experiment_id
        return current, Arm.CONTROL, experiment.experiment_id

    @property
    def experiment_id(self) -> int | None:
        experiment = self.experiment
        return experiment.experiment_id if experiment else None

    async def refresh_experiment(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Follows the registry's running experiment: loads its candidate, or drops it."""
        async with sessionmaker() as session:
            running = await experiments.current(session=session)
            if running is None:
                self.experiment = None
                return
            if running.id in (self.experiment_id, self._no_candidate):
                return
            version = await registry.get_version(
                session=session, version_id=running.candidate_version
            )
            blob = await registry.load_artifact(session=session, version_id=version.id)
        loaded = await _active(version, blob)
        if loaded is None:
            self._no_candidate = running.id
            self.experiment = None
            return
        self.experiment = Candidate(running.id, float(running.traffic), loaded)
        log.info("experiment %d: serving version %d to %.0f %% of the users",
                 running.id, version.id, 100 * running.traffic)  # fmt: skip

    @property
    def version_id(self) -> int | None:
        current = self.current
        return current.version_id if current else None

    async def refresh(self, sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
        """Loads the active version from the registry if it is not the one held; True if swapped."""
        async with sessionmaker() as session:
            version = await registry.get_active(session=session)
            if version is None or version.id in (self.version_id, self.unloadable):
                return False
            held = self.experiment
            if held is not None and held.model.version_id == version.id:
                loaded: ActiveModel | None = held.model  # a promoted candidate: already here
            else:
                blob = await registry.load_artifact(session=session, version_id=version.id)
                loaded = None
        if loaded is None:
            loaded = await _active(version, blob)
        if loaded is None:
            self.unloadable = version.id
            log.error("still serving version %s", self.version_id)
            return False
        self.current = loaded
        self.swaps += 1
        ACTIVE_VERSION.set(version.id)
        log.info("serving model version %d (%s)", version.id, version.algorithm)
        return True

    async def watch(
        self,
        *,
        redis: aioredis.Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        poll_seconds: float,
        stop: asyncio.Event,
    ) -> None:
        """Follows the active version: pub/sub for promptness, the polled pointer for safety
        (a message sent while this replica was disconnected is not replayed)."""
        while not stop.is_set():
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(ACTIVE_CHANNEL)
                while not stop.is_set():
                    if not await _message_or_stop(pubsub, stop, poll_seconds):
                        return
                    pointer = await registry.read_pointer(redis)
                    if pointer is None or pointer != self.version_id:
                        await self.refresh(sessionmaker)
                    if await experiments.read_pointer(redis) != self.experiment_id:
                        await self.refresh_experiment(sessionmaker)
            except (RedisError, OSError) as exc:
                log.warning("model watcher: redis unavailable (%s); retrying", exc)
                await _sleep_or_stop(stop, poll_seconds)
            except Exception:
                log.exception("model watcher: unexpected error; retrying")
                await _sleep_or_stop(stop, poll_seconds)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


async def _active(version: ModelVersion, blob: bytes) -> ActiveModel | None:
    """The version ready to serve; None (logged) when its artefact cannot be loaded."""
    try:
        # Unpickling tensors and the neighbour table take a while for big models: off the
        # event loop.
        model, neighbours = await asyncio.to_thread(_load, blob)
    except Exception as exc:
        log.error("model version %d cannot be loaded (%s)", version.id, exc)
        return None
    return ActiveModel(
        version_id=version.id,
        algorithm=version.algorithm,
        created_at=version.created_at,
        data_snapshot_at=version.data_snapshot_at,
        model=model,
        known_items=frozenset(int(i) for i in model.item_ids),
        neighbours=neighbours,
        scores=UserScores(model),
        unit_vectors=model.unit_item_vectors().astype(np.float64),
    )


def _load(blob: bytes) -> tuple[TrainedModel, Neighbours]:
    from recommender_service.ml.artifact import TrainedModel

    model = TrainedModel.from_bytes(blob)
    return model, Neighbours.build(model)


async def _message_or_stop(pubsub: PubSub, stop: asyncio.Event, seconds: float) -> bool:
    """Waits up to `seconds` for a message; False as soon as `stop` is set (shutdown must not
    wait out the poll interval)."""
    message = asyncio.create_task(
        pubsub.get_message(ignore_subscribe_messages=True, timeout=seconds)
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({message, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (message, stopped):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await message
    return not stop.is_set()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
