"""One training run, end to end.

`start` takes the run's lease (training/lease.py: the Redis lock, one trainer at a time, and the
registry heartbeat) and records the version (status `training`), so that the API can answer 202
with its id at once; `execute` loads the read model, fits in a worker thread (the event loop
keeps serving), stores the artefact, lets `training.activation` decide whether it replaces the
active version (the decision is stored with it), and always releases the lease. A distributed
run (`train --distributed`, training/ranks.py) is this same run on rank 0, with a `fitter` that
also hands the data to the other ranks.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.errors import NotEnoughData, TrainingInProgress
from recommender_service.ml import distributed
from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.features import SideInfo
from recommender_service.ml.feedback import implicit_feedback
from recommender_service.ml.heldout import HeldOut
from recommender_service.ml.pipeline import TrainConfig, fit
from recommender_service.readmodel import service as readmodel
from recommender_service.registry import service as registry
from recommender_service.training import activation
from recommender_service.training.lease import RunLease, owner

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
# `pipeline.fit`'s signature: (data, config, *, progress, item_pool, on_held_out) -> model
Fitter = Callable[..., TrainedModel]


@dataclass(frozen=True)
class TrainOptions:
    model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    embedding_dim: int | None = None
    seed: int | None = None
    device: str | None = None  # cpu or cuda (the CLI's --device); the service trains on the CPU


@dataclass(frozen=True)
class Run:
    version_id: int
    lease: RunLease
    options: TrainOptions


@dataclass(frozen=True)
class Outcome:
    version_id: int
    decision: activation.Decision
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    train_seconds: float

    @property
    def activated(self) -> bool:
        return self.decision.activated


def train_config(settings: Settings, options: TrainOptions) -> TrainConfig:
    """The run's hyper-parameters: the request's, else the settings', else the ML defaults."""
    chosen: dict[str, Any] = {
        "model": options.model or settings.recommender_model,
        "epochs": options.epochs or settings.train_epochs,
        "batch_size": options.batch_size or settings.train_batch_size,
        "lr": options.lr or settings.train_lr,
        "embedding_dim": options.embedding_dim or settings.train_embedding_dim,
        "seed": options.seed,
        "device": options.device,
        "threads": settings.torch_threads,
        "holdout_metrics": settings.train_holdout_metrics,
        "refit_full": settings.train_refit_full,
        "budget_seconds": settings.train_budget_seconds,
    }
    return TrainConfig(**{k: v for k, v in chosen.items() if v is not None})


def batch_size_for(n_pairs: int, num_negatives: int) -> int:
    """About 100 optimiser steps per epoch, between 256 and 2048 samples a batch.

    The ML default (2048) is sized for MovieLens-1M's million pairs; on the institute's own
    data (the demo set has ~12,000 pairs) it leaves ~30 steps an epoch and the model stops
    undertrained, below popularity (measured: HR@10 0.49 at 2048 vs 0.84 at 512).
    """
    samples = n_pairs * (1 + num_negatives)
    power = max(8, min(11, round(math.log2(max(samples / 100, 1)))))
    return 2**power


async def start(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    settings: Settings,
    options: TrainOptions,
    trigger: str,
) -> Run:
    """Takes the lease and records the new version; raises `TrainingInProgress`."""
    config = train_config(settings, options)
    lease = RunLease(redis=redis, sessionmaker=sessionmaker, ttl_ms=settings.training_lock_ttl_ms)
    if not await lease.acquire():
        raise TrainingInProgress("a training run is already in progress")
    try:
        async with sessionmaker() as session, session.begin():
            version = await registry.create_version(
                session=session,
                algorithm=config.model,
                hyperparameters=_jsonable(config.to_dict()),
                trigger=trigger,
                owner=owner(),
                lease_token=lease.token,
            )
    except BaseException:
        await lease.release()
        raise
    lease.attach(version.id)
    return Run(version.id, lease, options)


async def execute(
    run: Run,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    settings: Settings,
    progress: Progress | None = None,
    fitter: Fitter | None = None,
) -> Outcome:
    """`fitter` is `pipeline.fit` unless given a wrapper of it (a distributed run's rank 0
    shares the data it is given with the other ranks first)."""
    try:
        return await _execute(run, sessionmaker, redis, settings, progress, fitter or fit)
    except BaseException as exc:
        async with sessionmaker() as session, session.begin():
            await registry.fail_version(
                session=session, version_id=run.version_id, error=f"{type(exc).__name__}: {exc}"
            )
        raise
    finally:
        await run.lease.release()


async def _execute(
    run: Run,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    settings: Settings,
    progress: Progress | None,
    fitter: Fitter,
) -> Outcome:
    async with sessionmaker() as session, session.begin():
        rows = await readmodel.training_rows(session)
        user_meta, item_meta = await readmodel.side_metadata(session)
        await registry.note_snapshot(
            session=session, version_id=run.version_id, at=rows.snapshot_at
        )
    data = implicit_feedback(
        rows.user_ids, rows.item_ids, rows.kinds, rows.relevances, rows.timestamps
    )
    if len(data) < settings.min_training_interactions:
        raise NotEnoughData(
            f"{len(data)} (user, item) pairs; at least {settings.min_training_interactions} needed"
        )
    loop = asyncio.get_running_loop()
    logged: list[asyncio.Future[None]] = []
    held: list[HeldOut] = []

    def on_epoch(entry: dict[str, Any]) -> None:  # runs in the training thread
        logged.append(
            asyncio.run_coroutine_threadsafe(_log_epoch(sessionmaker, run.version_id, entry), loop)  # type: ignore[arg-type]
        )
        if progress is not None:
            progress(entry)

    def work() -> TrainedModel:
        config = train_config(settings, run.options)  # `threads` bounds torch's pool
        if not (run.options.batch_size or settings.train_batch_size):
            config.batch_size = batch_size_for(len(data), config.num_negatives)
        return fitter(
            data, config, progress=on_epoch, item_pool=rows.item_pool, on_held_out=held.append,
            side=SideInfo(user_meta, item_meta),
        )  # fmt: skip

    model = await asyncio.to_thread(work)
    await asyncio.gather(*(asyncio.wrap_future(f) for f in logged))  # type: ignore[arg-type]
    if not held:
        raise RuntimeError("the training pipeline reported no held-out split to judge the run on")
    blob = await asyncio.to_thread(model.to_bytes)
    metrics = _jsonable(dict(model.metrics))
    async with sessionmaker() as session:
        decision = await activation.judge(
            session=session, held=held[0], tolerance=settings.activation_tolerance
        )
    async with sessionmaker() as session, session.begin():
        await registry.complete_version(
            session=session,
            version_id=run.version_id,
            blob=blob,
            metrics=metrics,
            n_users=len(model.user_ids),
            n_items=len(model.item_ids),
            n_interactions=int(model.n_interactions),
            train_seconds=float(model.train_seconds),
            data_snapshot_at=rows.snapshot_at,
            # How many processes shared the SGD epochs (their negatives differ from one's).
            hyperparameters=_jsonable(
                {**model.config.to_dict(), "world_size": distributed.world_size()}
            ),
            algorithm=model.algorithm,  # with auto: the family it chose
        )
        current = await registry.get_active(session=session, for_update=True)
        decision = decision.confirmed(current.id if current else None)
        await registry.record_decision(
            session=session,
            version_id=run.version_id,
            decision=decision.label,
            reason=decision.reason,
            scores=_jsonable(decision.scores),
        )
        if decision.activated:
            await registry.activate(session=session, version_id=run.version_id)
    if decision.activated:
        await registry.publish_active(redis, run.version_id)
    log.info("version %d trained: %s (%s)", run.version_id, decision.label, decision.reason)
    return Outcome(
        run.version_id, decision, metrics, list(model.history), float(model.train_seconds)
    )


async def _log_epoch(
    sessionmaker: async_sessionmaker[AsyncSession], version_id: int, entry: dict[str, Any]
) -> None:
    async with sessionmaker() as session, session.begin():
        await registry.log_epoch(session=session, version_id=version_id, entry=_jsonable(entry))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
