"""A training run's lease, and the reaper of runs whose owner died.

The lease is two things renewed on the same beat (a third of `TRAINING_LOCK_TTL_MS`): the Redis
lock (one trainer across replicas; it expires by itself when its owner stops renewing it) and
the run's heartbeat in the registry, with its owner (`host:pid`) and the lock's token. A run
still `training` is abandoned when its heartbeat is older than the lease, or at once when its
owner is a process of this host that no longer exists (a replica restarted after a kill -9).
`reap` fails such runs with the reason and frees their lock; every replica reaps when it starts
and on every scheduler tick, and the CLI before it trains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.registry import service as registry
from recommender_service.training.lock import TrainingLock, release_token

log = logging.getLogger(__name__)


def owner() -> str:
    """This process, as runs record their owner."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunLease:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        ttl_ms: int,
    ) -> None:
        self.lock = TrainingLock(redis, ttl_ms=ttl_ms)
        self.sessionmaker = sessionmaker
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def token(self) -> str:
        return self.lock.token

    async def acquire(self) -> bool:
        return await self.lock.acquire()

    def attach(self, version_id: int) -> None:
        """Starts the registry heartbeat of the run recorded as `version_id`."""
        self._heartbeat = asyncio.create_task(self._beat(version_id))

    async def release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        await self.lock.release()

    async def _beat(self, version_id: int) -> None:
        while True:
            await asyncio.sleep(self.lock.ttl_ms / 3000)
            try:
                async with self.sessionmaker() as session, session.begin():
                    alive = await registry.heartbeat(session=session, version_id=version_id)
            except Exception as exc:  # the database is away: the next beat may get through
                log.warning("training run %d: heartbeat failed (%s)", version_id, exc)
                continue
            if not alive:
                # Failed by a reaper (its heartbeats stopped): completing it will be refused.
                log.error("training run %d was failed meanwhile (lease lost)", version_id)
                return


def _gone(run_owner: str | None) -> bool:
    """True when `run_owner` is a process of this host that no longer exists."""
    host, _, pid = (run_owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


async def reap(
    *, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, ttl_ms: int
) -> list[int]:
    """Fails the runs whose owner died and frees their lock; returns their version ids."""
    freed: list[tuple[int, str | None]] = []
    async with sessionmaker() as session, session.begin():
        for run, expired in await registry.training_runs(
            session=session, lease_seconds=ttl_ms / 1000
        ):
            if expired:
                reason = f"no heartbeat from its owner {run.owner} for {ttl_ms / 1000:g} s"
            elif _gone(run.owner):
                reason = f"its owner process {run.owner} is gone"
            else:
                continue
            await registry.fail_version(
                session=session, version_id=run.id, error=f"abandoned: {reason}"
            )
            freed.append((run.id, run.lease_token))
    for version_id, token in freed:
        log.warning("training run %d abandoned by its owner: failed", version_id)
        if token:
            with contextlib.suppress(RedisError, OSError):
                await release_token(redis, token)
    return [version_id for version_id, _ in freed]
