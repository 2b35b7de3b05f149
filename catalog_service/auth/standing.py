"""Each account's standing (active? current token version?) for reads that authenticate
without a database round trip (`auth.readers`): this process's memory, else Redis (one GET),
else the database, then mirrored.

Every bump of a token version (`revocation.revoke_tokens`: a password, role or activity change,
a reused refresh token) rewrites its user's mirror right after the COMMIT (an after-commit hook
of the session, like the relay wake-up; the writer awaits it, `mirrored`, before answering),
then a notice drops the standing from every process's memory: a revoked token stops reading
at once here, and as soon as the notice arrives on every other replica. Mirror writes only move a
version up, so a fill that read the database before the bump cannot undo it; within one version
the standing cannot change (activity changes bump it too). A mirror lives `MIRROR_TTL_S` at
most: if a process died between a COMMIT and its mirror write, a fill repairs it by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from catalog_service.memory import CHANNEL
from catalog_service.users.models import User
from shared.nearcache import NearCache

log = logging.getLogger(__name__)

MIRROR_TTL_S = 60
_PENDING = "standings_changed"  # session.info: {user id: Standing} to mirror at COMMIT
_WRITING = "standings_mirroring"  # session.info: the mirror write its COMMIT started
_KEY = "catalog:auth:standing:{}"
_SET_UPWARDS = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(string.match(current, '^%d+')) >= tonumber(ARGV[2]) then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return ARGV[1]
"""


@dataclass(frozen=True, slots=True)
class Standing:
    version: int
    active: bool

    def encode(self) -> bytes:
        return b"%d:%d" % (self.version, self.active)

    @classmethod
    def decode(cls, raw: bytes | str) -> Standing:
        text = raw.decode() if isinstance(raw, bytes) else raw
        version, _, active = text.partition(":")
        return cls(int(version), active == "1")


def scope(user_id: int) -> str:
    return f"a:{user_id}"


class Standings:
    def __init__(
        self,
        redis: aioredis.Redis,
        memory: NearCache,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.redis = redis
        self.memory = memory
        self.sessionmaker = sessionmaker
        self._set_upwards = redis.register_script(_SET_UPWARDS)

    def remembered(self, user_id: int) -> Standing | None:
        standing = self.memory.get(scope(user_id), "")
        return standing if isinstance(standing, Standing) else None

    async def get(self, user_id: int) -> Standing | None:
        """None for an account that does not exist."""
        mark = self.memory.mark()
        standing = self.remembered(user_id)
        if standing is not None:
            return standing
        raw = None
        with contextlib.suppress(RedisError, OSError):
            raw = await self.redis.get(_KEY.format(user_id))
        if raw is None:
            async with self.sessionmaker() as session:
                row = (
                    await session.execute(
                        select(User.token_version, User.is_active).where(User.id == user_id)
                    )
                ).one_or_none()
            if row is None:
                return None
            standing = Standing(row.token_version, row.is_active)
            with contextlib.suppress(RedisError, OSError):
                raw = await self._set_upwards(
                    keys=[_KEY.format(user_id)],
                    args=[standing.encode(), standing.version, MIRROR_TTL_S],
                )
        if raw is not None:
            standing = Standing.decode(raw)
        assert standing is not None
        expires = time.time() + MIRROR_TTL_S
        self.memory.put(scope(user_id), "", standing, mark=mark, expires_at=expires)
        return standing


def changed_at_commit(session: AsyncSession, user_id: int, standing: Standing) -> None:
    """`user_id`'s standing once this transaction commits (see the module docstring)."""
    session.sync_session.info.setdefault(_PENDING, {})[user_id] = standing


async def mirrored(session: AsyncSession) -> None:
    """Waits for the mirror write the session's last COMMIT started, if any: the writer's own
    answer then goes out after every replica can see the change."""
    task = session.sync_session.info.pop(_WRITING, None)
    if task is not None:
        await asyncio.shield(task)


_mirrors: weakref.WeakKeyDictionary[Engine, tuple[aioredis.Redis, NearCache]] = (
    weakref.WeakKeyDictionary()
)
_writes: set[asyncio.Task[None]] = set()


def attach(engine: AsyncEngine, redis: aioredis.Redis, memory: NearCache) -> None:
    """Standings committed through `engine` are mirrored into `redis`, and dropped from this
    process's `memory` at once (the app's lifespan)."""
    _mirrors[engine.sync_engine] = (redis, memory)


def detach(engine: AsyncEngine) -> None:
    _mirrors.pop(engine.sync_engine, None)


async def mirror(redis: aioredis.Redis, standings: dict[int, Standing]) -> None:
    script = redis.register_script(_SET_UPWARDS)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            for user_id, standing in standings.items():
                await script(
                    keys=[_KEY.format(user_id)],
                    args=[standing.encode(), standing.version, MIRROR_TTL_S],
                    client=pipe,
                )
                pipe.publish(CHANNEL, scope(user_id))
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning(
            "standing mirror not written (%r): fixed by a fill within %d s", exc, MIRROR_TTL_S
        )


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    bind = session.get_bind()
    mirrors = _mirrors.get(bind if isinstance(bind, Engine) else bind.engine)
    if mirrors is None:  # no app of this process serves reads from that database
        return
    redis, memory = mirrors
    for user_id in pending:
        memory.drop(scope(user_id))
    task = asyncio.get_running_loop().create_task(mirror(redis, pending))
    _writes.add(task)
    task.add_done_callback(_writes.discard)
    session.info[_WRITING] = task


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
