"""Each replica's in-memory histories (`serving.history`) follow a user's token swaps without
reading SQL, and only when the entry is complete: real read model, real Redis, the forget
script (`cache.forget`) and the history feed (`serving.history_feed`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel.service import apply_payload, interacted
from recommender_service.serving.cache import Stamp, forget
from recommender_service.serving.history import Histories, UserActivity
from recommender_service.serving.history_feed import HISTORY_CHANNEL, Swap, heard
from shared.enums import Filiere, InteractionKind, Niveau
from shared.events import InteractionCreated, Payload, UserUpserted
from shared.freshness import ABSENT, ITEMS_GENERATION_KEY, user_token_key
from shared.nearcache import NearCache
from tests.recommender.conftest import ReadModel, until

NOW = datetime.now(UTC)
_ids = itertools.count(1)


def _interaction(
    user_id: int, item_id: int, kind: str = "DOWNLOAD", *, days_ago: float = 1.0
) -> InteractionCreated:
    return InteractionCreated(
        id=next(_ids), user_id=user_id, epreuve_id=item_id, kind=InteractionKind(kind),
        created_at=NOW - timedelta(days=days_ago),
    )  # fmt: skip


async def _stamp(redis: aioredis.Redis, user_id: int) -> Stamp:
    """What a cache lookup reads (`ResultCache.lookup`): the stamp an answer is computed for."""
    generation = await redis.get(ITEMS_GENERATION_KEY) or ABSENT  # a decoding client: str
    return Stamp(str(generation), str(await redis.get(user_token_key(user_id)) or ABSENT))


async def _committed(sm: async_sessionmaker[AsyncSession], payload: Payload) -> Any:
    async with sm() as session, session.begin():
        return await apply_payload(session, payload, at=datetime.now(UTC))


async def _consumed(
    sm: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    payload: Payload,
    histories: Histories,
) -> None:
    """What a replica's consumer does with an event: commit it, then `forget` with its own
    histories (`ResultCache.forget`)."""
    await forget(redis, [await _committed(sm, payload)], histories=histories)


def _state(activity: UserActivity) -> tuple[Any, ...]:
    return (
        activity.niveau,
        activity.filiere,
        activity.recent,
        activity.seen.tolist(),
        activity.shown,
    )


async def _reloaded(sm: async_sessionmaker[AsyncSession], user_id: int) -> UserActivity:
    return await Histories(sm, max_users=0).get(user_id, Stamp(ABSENT))


async def _user_with_history(read_model: ReadModel, *users: int) -> None:
    for user_id in users:
        await read_model.user(user_id)
    for item_id in (10, 11, 12):
        await read_model.item(item_id)
    for user_id in users:
        await read_model.interaction(user_id, 10, days_ago=2)


async def test_a_consumed_interaction_moves_the_entry_without_a_load(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    await _user_with_history(read_model, 1)
    histories = Histories(sessionmaker, max_users=10)
    await histories.get(1, await _stamp(redis, 1))
    await _consumed(sessionmaker, redis, _interaction(1, 11, "VIEW"), histories)
    moved = await histories.get(1, await _stamp(redis, 1))
    assert (histories.loads, histories.advances) == (1, 1)
    assert [(h.item_id, h.kind) for h in moved.recent] == [(11, "VIEW"), (10, "DOWNLOAD")]
    assert _state(moved) == _state(await _reloaded(sessionmaker, 1))


async def test_an_entry_loaded_under_another_token_than_the_swaps_old_one_is_dropped(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    await _user_with_history(read_model, 1)
    histories = Histories(sessionmaker, max_users=10)  # not following the feed
    await histories.get(1, await _stamp(redis, 1))
    await read_model.interaction(1, 11)  # another replica's consumer: a swap unheard here
    await _consumed(sessionmaker, redis, _interaction(1, 12), histories)
    assert (len(histories), histories.advances) == (0, 0)  # it lacked item 11
    reloaded = await histories.get(1, await _stamp(redis, 1))
    assert histories.loads == 2
    assert reloaded.seen.tolist() == [10, 11, 12]


async def test_an_entry_is_reloaded_whole_after_its_age_however_often_it_moved(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    """A gap left by a lost swap (here: an interaction committed with no swap at all) is
    repaired by the reload at the entry's age, even while later swaps keep moving it."""
    await _user_with_history(read_model, 1)
    histories = Histories(sessionmaker, max_users=10, rotation_refresh_seconds=3600)
    await histories.get(1, await _stamp(redis, 1))
    await _committed(sessionmaker, _interaction(1, 11))  # its swap never happened
    await _consumed(sessionmaker, redis, _interaction(1, 12), histories)
    moved = await histories.get(1, await _stamp(redis, 1))
    assert (histories.loads, histories.advances) == (1, 1)
    assert moved.seen.tolist() == [10, 12]  # the gap, while the entry is young

    histories.max_age_seconds = 0.0  # its age reached
    reloaded = await histories.get(1, await _stamp(redis, 1))
    assert histories.loads == 2
    assert reloaded.seen.tolist() == [10, 11, 12]


async def test_interactions_applied_twice_or_already_loaded_leave_the_entry_as_a_reload(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    await _user_with_history(read_model, 1)
    histories = Histories(sessionmaker, max_users=10)
    stamp = await _stamp(redis, 1)
    newer, older = _interaction(1, 11, days_ago=0.5), _interaction(1, 10, "VIEW", days_ago=3)
    for payload in (newer, older):
        await _committed(sessionmaker, payload)
    await histories.get(1, stamp)  # both are in the rows it loads
    again = (interacted(newer), interacted(newer), interacted(older))
    histories.advance([Swap(1, stamp.token, "t1", again)])
    moved = await histories.get(1, Stamp(stamp.generation, "t1"))
    assert (histories.loads, histories.advances) == (1, 1)
    assert _state(moved) == _state(await _reloaded(sessionmaker, 1))
    assert [(h.item_id, h.kind) for h in moved.recent] == [(11, "DOWNLOAD"), (10, "DOWNLOAD")]


async def test_a_profile_change_drops_the_entry(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    await _user_with_history(read_model, 1)
    histories = Histories(sessionmaker, max_users=10)
    await histories.get(1, await _stamp(redis, 1))
    changed = UserUpserted(id=1, niveau=Niveau.M1, filiere=Filiere.INFO)
    await _consumed(sessionmaker, redis, changed, histories)
    assert len(histories) == 0
    assert (await histories.get(1, await _stamp(redis, 1))).niveau == "M1"
    assert histories.loads == 2


async def test_a_lookup_that_read_the_new_token_during_the_swap_waits_for_the_move(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    await _user_with_history(read_model, 1)
    histories = Histories(sessionmaker, max_users=10)
    stamp = await _stamp(redis, 1)
    await histories.get(1, stamp)
    payload = _interaction(1, 11, days_ago=0.5)
    await _committed(sessionmaker, payload)
    with histories.swapping({1: "t1"}):  # the script has set "t1"; its answer is on its way
        lookup = asyncio.create_task(histories.get(1, Stamp(stamp.generation, "t1")))
        await asyncio.sleep(0.1)
        assert not lookup.done()
        histories.advance([Swap(1, stamp.token, "t1", (interacted(payload),))])
    assert (await lookup).seen.tolist() == [10, 11]
    assert histories.loads == 1


@contextlib.asynccontextmanager
async def _following(redis: aioredis.Redis, *histories: Histories) -> AsyncIterator[None]:
    stop = asyncio.Event()
    followers = [
        NearCache(redis, scope_channels=(), listeners={HISTORY_CHANNEL: partial(heard, h)})
        for h in histories
    ]  # what each replica's result cache runs (`ResultCache.memory`)
    tasks = [asyncio.create_task(follower.run(stop)) for follower in followers]

    async def subscribed() -> bool:
        return dict(await redis.pubsub_numsub(HISTORY_CHANNEL)).get(HISTORY_CHANNEL) == len(tasks)

    try:
        await until(subscribed, "the replicas follow the feed")
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_every_replica_but_the_publisher_moves_its_entries_from_the_feed(
    sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis, read_model: ReadModel
) -> None:
    await _user_with_history(read_model, 1, 2)
    a, b = (Histories(sessionmaker, max_users=10) for _ in range(2))
    async with _following(redis, a, b):
        for histories in (a, b):
            for user_id in (1, 2):
                await histories.get(user_id, await _stamp(redis, user_id))
        await _consumed(sessionmaker, redis, _interaction(1, 11, days_ago=0.5), a)
        await _consumed(sessionmaker, redis, _interaction(2, 12, days_ago=0.5), b)
        # Each heard both messages, in order: the other's moved it, its own changed nothing.
        await until(lambda: a.advances == b.advances == 2, "both replicas moved both users")
        for histories in (a, b):
            for user_id, item_id in ((1, 11), (2, 12)):
                moved = await histories.get(user_id, await _stamp(redis, user_id))
                assert moved.seen.tolist() == [10, item_id]
            assert (histories.loads, histories.advances) == (2, 2)
