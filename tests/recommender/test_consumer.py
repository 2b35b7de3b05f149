"""The stream consumer against a real Redis stream and PostgreSQL read model (DESIGN §3)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.consumer.members import forget_idle_consumers
from recommender_service.consumer.runner import make_consumer, run_forever
from recommender_service.consumer.stream import StreamConsumer
from recommender_service.main import create_app
from recommender_service.readmodel.models import Evaluation, Interaction, Item, User
from recommender_service.readmodel.service import Change
from shared.database import asyncpg_url
from shared.devstack import PostgresControl
from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau
from shared.events import (
    EpreuveUpserted,
    EvaluationUpserted,
    Event,
    InteractionCreated,
    UserDeleted,
    UserUpserted,
)
from shared.http_errors import is_unavailable
from tests.recommender.conftest import (
    STREAM,
    ReadModel,
    make_settings,
    publish,
    service_client,
)

T = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _epreuve(
    item_id: int, *, title: str = "Analyse 2", matiere: str = "Analyse"
) -> EpreuveUpserted:
    return EpreuveUpserted(
        id=item_id, title=title, matiere=matiere, filiere=Filiere.MATH, niveau=Niveau.L2,
        type=EpreuveType.PARTIEL, annee=2024,
    )  # fmt: skip


def _interaction(interaction_id: int, user_id: int, item_id: int) -> InteractionCreated:
    return InteractionCreated(
        id=interaction_id, user_id=user_id, epreuve_id=item_id, kind=InteractionKind.DOWNLOAD,
        created_at=T,
    )  # fmt: skip


async def _consumer(
    settings: Settings, redis: aioredis.Redis, sm: async_sessionmaker[AsyncSession], **kw: object
) -> StreamConsumer:
    consumer = make_consumer(
        settings.model_copy(update=kw), redis=redis, sessionmaker=sm, name=str(kw.get("name", "c1"))
    )
    await consumer.ensure_group()
    return consumer


async def _count(sm: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sm() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_events_build_the_read_model(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker)
    await publish(redis, UserUpserted(id=1, niveau=Niveau.L2, filiere=Filiere.MATH))
    await publish(redis, _epreuve(10))
    await publish(redis, _interaction(100, 1, 10))
    await publish(
        redis,
        EvaluationUpserted(user_id=1, epreuve_id=10, difficulty=4, relevance=5, updated_at=T),
    )
    assert await consumer.drain() == 4
    async with sessionmaker() as session:
        user = await session.get(User, 1)
        item = await session.get(Item, 10)
        interaction = await session.get(Interaction, 100)
        evaluation = await session.get(Evaluation, (1, 10))
    assert (user.niveau, user.filiere, user.is_active) == ("L2", "MATH", True)
    assert (item.title, item.matiere, item.type, item.annee) == (
        "Analyse 2",
        "Analyse",
        "PARTIEL",
        2024,
    )
    assert (interaction.user_id, interaction.item_id, interaction.kind) == (1, 10, "DOWNLOAD")
    assert (evaluation.difficulty, evaluation.relevance) == (4, 5)
    assert (await redis.xpending(STREAM, settings.consumer_group))["pending"] == 0


async def test_redelivered_events_change_nothing(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker)
    events = [Event.of(_epreuve(10)), Event.of(_interaction(100, 1, 10))]
    for _ in range(2):  # the relay published them twice (e.g. it crashed before marking)
        for event in events:
            await redis.xadd(STREAM, event.to_fields())
    assert await consumer.drain() == 4
    assert await _count(sessionmaker, Interaction) == 1
    assert await _count(sessionmaker, Item) == 1


async def test_an_older_event_never_overwrites_newer_state(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker)
    newer = Event.of(_epreuve(10, title="Analyse 2 (corrigé)"), occurred_at=T)
    older = Event.of(_epreuve(10, title="Analyse 2"), occurred_at=T - timedelta(hours=1))
    await redis.xadd(STREAM, newer.to_fields())
    await redis.xadd(STREAM, older.to_fields())
    await consumer.drain()
    async with sessionmaker() as session:
        assert (await session.get(Item, 10)).title == "Analyse 2 (corrigé)"


async def test_deleted_user_loses_history_and_later_interactions_are_ignored(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker)
    await publish(redis, UserUpserted(id=1, niveau=Niveau.L1, filiere=Filiere.INFO))
    await publish(redis, _interaction(100, 1, 10))
    await publish(redis, UserDeleted(id=1))
    await publish(redis, _interaction(101, 1, 11))
    await consumer.drain()
    assert await _count(sessionmaker, Interaction) == 0
    async with sessionmaker() as session:
        assert (await session.get(User, 1)).is_active is False


async def test_entries_of_a_crashed_consumer_are_reclaimed_by_another(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    crashed = await _consumer(settings, redis, sessionmaker, name="replica-a")
    for i in range(3):
        await publish(redis, _interaction(100 + i, 1, 10 + i))
    # replica-a reads the entries, then dies before applying or acknowledging them.
    read = await redis.xreadgroup(crashed.group, "replica-a", {STREAM: ">"}, count=10)
    assert len(read[0][1]) == 3
    patient = await _consumer(settings, redis, sessionmaker, name="replica-b", claim_idle_ms=60_000)
    assert await patient.drain() == 0  # not idle for a minute: still replica-a's
    await asyncio.sleep(0.1)  # idle longer than the survivor's 50 ms
    survivor = await _consumer(settings, redis, sessionmaker, name="replica-b", claim_idle_ms=50)
    assert await survivor.drain() == 3
    assert survivor.stats.claimed == 3
    assert await _count(sessionmaker, Interaction) == 3
    assert (await redis.xpending(STREAM, crashed.group))["pending"] == 0


async def test_a_running_consumer_takes_over_a_crashed_consumers_entries_without_a_scan_per_pass(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The running loop looks for idle entries now and then, not at every read: the crashed
    replica's entries are still taken over, while a burst of passes costs far fewer scans."""
    crashed = await _consumer(settings, redis, sessionmaker, name="replica-a")
    for i in range(3):
        await publish(redis, _interaction(100 + i, 1, 10 + i))
    read = await redis.xreadgroup(crashed.group, "replica-a", {STREAM: ">"}, count=10)
    assert len(read[0][1]) == 3
    quick = settings.model_copy(update={"consumer_block_ms": 10})
    survivor = await _consumer(quick, redis, sessionmaker, name="replica-b", claim_idle_ms=2000)
    scans_before = await _calls(redis, "xautoclaim")
    reads_before = await _calls(redis, "xreadgroup")
    stop = asyncio.Event()
    task = asyncio.create_task(survivor.run(stop))
    try:
        await _wait_until(lambda: _count(sessionmaker, Interaction), 3, "the taken-over entries")
        await _wait_until(lambda: _reads_since(redis, reads_before, 50), 1, "50 passes")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert survivor.stats.claimed == 3
    assert (await redis.xpending(STREAM, crashed.group))["pending"] == 0
    reads = await _calls(redis, "xreadgroup") - reads_before
    scans = await _calls(redis, "xautoclaim") - scans_before
    assert 1 <= scans < reads / 2, (scans, reads)


async def _calls(redis: aioredis.Redis, command: str) -> int:
    """How many times Redis ran `command` so far (INFO commandstats)."""
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def _reads_since(redis: aioredis.Redis, before: int, at_least: int) -> int:
    return int(await _calls(redis, "xreadgroup") - before >= at_least)


async def test_an_entry_failing_max_deliveries_times_goes_to_dead_letter(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker, max_deliveries=3, claim_idle_ms=10)
    # Valid by the contract, refused by the database (matière longer than the column).
    await publish(redis, _epreuve(10, matiere="x" * 500))
    await publish(redis, _epreuve(11))
    for _ in range(20):
        await consumer.drain()
        if consumer.stats.dead_lettered:
            break
        await asyncio.sleep(0.02)
    assert consumer.stats.failed == 3
    assert consumer.stats.dead_lettered == 1
    dead = await redis.xrange(f"{STREAM}.dead")
    assert len(dead) == 1
    assert dead[0][1]["dead_error"].startswith("failed 3 times")
    assert (await redis.xpending(STREAM, consumer.group))["pending"] == 0
    assert await _count(sessionmaker, Item) == 1


async def test_a_malformed_entry_is_dead_lettered_at_once(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker)
    await redis.xadd(STREAM, {"type": "user.upserted", "payload": "{not json"})
    await publish(redis, UserUpserted(id=2))
    assert await consumer.drain() == 2
    assert consumer.stats.dead_lettered == 1
    assert consumer.stats.failed == 0
    assert await _count(sessionmaker, User) == 1
    assert (await redis.xpending(STREAM, consumer.group))["pending"] == 0


async def test_background_consumer_applies_events_as_they_arrive(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _in_background(settings, redis, sessionmaker, UserUpserted(id=3))


async def test_the_consumer_recreates_a_group_redis_lost(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def lose_the_group(consumer: StreamConsumer) -> None:
        await redis.xgroup_destroy(STREAM, consumer.group)  # e.g. Redis restarted without it

    consumer = await _in_background(
        settings, redis, sessionmaker, UserUpserted(id=1), UserUpserted(id=2),
        between=lose_the_group,
    )  # fmt: skip
    groups = [g["name"] for g in await redis.xinfo_groups(STREAM)]
    assert groups == [consumer.group]
    assert (await redis.xpending(STREAM, consumer.group))["pending"] == 0


async def _in_background(
    settings: Settings,
    redis: aioredis.Redis,
    sm: async_sessionmaker[AsyncSession],
    *users: UserUpserted,
    between: Callable[[StreamConsumer], Awaitable[None]] | None = None,
) -> StreamConsumer:
    """Runs the background consumer while `users` are published one by one, each applied
    before the next (`between` runs between them)."""
    consumer = await _consumer(settings, redis, sm)
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(consumer, settings, sessionmaker=sm, stop=stop))
    try:
        for n, user in enumerate(users):
            if n and between is not None:
                await between(consumer)
            await publish(redis, user)
            for _ in range(400):
                if await _count(sm, User) == n + 1:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"user {user.id} was never applied")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return consumer


async def test_a_read_batch_is_applied_in_one_transaction(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker, consumer_batch=500)
    for user_id in range(1, 6):
        await publish(redis, UserUpserted(id=user_id, niveau=Niveau.L1, filiere=Filiere.MATH))
    await publish(redis, _epreuve(10))
    for n in range(300):
        await publish(redis, _interaction(1000 + n, 1 + n % 5, 10))
    commits: list[object] = []

    def count_commit(connection: object) -> None:
        commits.append(connection)

    engine = sessionmaker.kw["bind"].sync_engine
    sa_event.listen(engine, "commit", count_commit)
    try:
        assert await consumer.drain() == 306
    finally:
        sa_event.remove(engine, "commit", count_commit)
    assert len(commits) == 1
    assert consumer.stats.applied == 306
    assert await _count(sessionmaker, Interaction) == 300
    assert await _count(sessionmaker, User) == 5
    assert (await redis.xpending(STREAM, settings.consumer_group))["pending"] == 0


async def test_within_a_batch_the_newest_upsert_of_a_row_wins(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker)
    newer = UserUpserted(id=1, niveau=Niveau.M1, filiere=Filiere.INFO)
    older = UserUpserted(id=1, niveau=Niveau.L1, filiere=Filiere.MATH)
    await redis.xadd(STREAM, Event.of(newer, occurred_at=T).to_fields())
    await redis.xadd(STREAM, Event.of(older, occurred_at=T - timedelta(hours=1)).to_fields())
    await redis.xadd(STREAM, Event.of(_epreuve(10, title="v2"), occurred_at=T).to_fields())
    await redis.xadd(STREAM, Event.of(_epreuve(10, title="v3"), occurred_at=T).to_fields())
    assert await consumer.drain() == 4
    async with sessionmaker() as session:
        assert (await session.get(User, 1)).niveau == "M1"
        assert (await session.get(Item, 10)).title == "v3"  # a tie: the later event wins


async def test_a_poison_entry_in_a_batch_does_not_hold_back_the_others(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await _consumer(settings, redis, sessionmaker, max_deliveries=1)
    await publish(redis, _epreuve(10))
    await publish(redis, _epreuve(11, matiere="x" * 500))  # refused by the database
    await publish(redis, _interaction(100, 1, 10))
    assert await consumer.drain() == 3
    assert (consumer.stats.applied, consumer.stats.dead_lettered) == (2, 1)
    assert await _count(sessionmaker, Item) == 1
    assert await _count(sessionmaker, Interaction) == 1
    assert (await redis.xpending(STREAM, consumer.group))["pending"] == 0


async def test_a_consumed_change_tells_the_interactions_applied_and_profile_changes(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    heard: list[set[Change]] = []

    async def on_change(changes: Collection[Change]) -> None:
        heard.append(set(changes))

    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker, on_change=on_change)
    await consumer.ensure_group()
    await publish(redis, _interaction(100, 1, 10))
    assert await consumer.drain() == 1  # one entry: applied alone (`apply_event`)
    await publish(redis, UserDeleted(id=3))
    await publish(redis, _interaction(101, 1, 11))
    await publish(redis, _interaction(102, 1, 12))
    await publish(redis, _interaction(103, 3, 10))  # a deleted user's: ignored
    await publish(redis, UserUpserted(id=2, niveau=Niveau.L1, filiere=Filiere.MATH))
    assert await consumer.drain() == 5  # one batch (`apply_batch`)
    assert heard == [
        {Change(user_id=1, interactions=((10, "DOWNLOAD", T),))},
        {
            Change(user_id=3, profile_changed=True),
            Change(user_id=1, interactions=((11, "DOWNLOAD", T), (12, "DOWNLOAD", T))),
            Change(user_id=3),
            Change(user_id=2, profile_changed=True),
        },
    ]


async def test_a_user_whose_announcement_failed_has_their_histories_dropped_at_the_next(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A failed token swap leaves replicas' histories of the user without that interaction;
    moving them along later swaps would never add it, so the next announcement drops them."""
    heard: list[set[Change]] = []

    async def on_change(changes: Collection[Change]) -> None:
        heard.append(set(changes))
        if len(heard) == 1:
            raise RedisConnectionError("Redis went away mid-script")

    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker, on_change=on_change)
    await consumer.ensure_group()
    await publish(redis, _interaction(100, 1, 10))
    assert await consumer.drain() == 1  # applied and acknowledged; its announcement failed
    await publish(redis, _interaction(101, 2, 11))
    assert await consumer.drain() == 1
    await publish(redis, _interaction(102, 2, 12))
    assert await consumer.drain() == 1
    assert heard[1] == {
        Change(user_id=2, interactions=((11, "DOWNLOAD", T),)),
        Change(user_id=1, profile_changed=True),  # user 1's histories go, on every replica
    }
    assert heard[2] == {Change(user_id=2, interactions=((12, "DOWNLOAD", T),))}  # once only


async def test_consumed_events_retire_exactly_the_cached_answers_they_make_stale(
    database_url: str, redis_url: str, tmp_path: Path, read_model: ReadModel
) -> None:
    for user_id in (1, 2):
        await read_model.user(user_id)
    await read_model.item(10)
    await read_model.item(11)
    app = create_app(make_settings(database_url, redis_url, tmp_path, consumer_enabled=True))
    async with service_client(app, lifespan=True) as client:

        async def cached(user_id: int) -> bool:
            response = await client.get(f"/v1/users/{user_id}/recommendations")
            assert response.status_code == 200
            return bool(response.json()["cached"])

        async def until_uncached(user_id: int) -> None:
            for _ in range(200):
                if not await cached(user_id):
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"user {user_id}'s answer stayed cached")

        for user_id in (1, 2):
            await cached(user_id)
            assert await cached(user_id) is True
        redis = app.state.redis
        await publish(redis, _interaction(100, 1, 10))  # user 1's own interaction
        await until_uncached(1)
        assert await cached(2) is True  # another student's answer still holds
        await publish(redis, _epreuve(12))  # a catalog change: every answer may change
        await until_uncached(2)
        assert await cached(1) is False  # user 1's answer, cached again since, too
        assert await cached(1) is True


async def test_sync_waits_for_entries_another_replica_is_applying(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from recommender_service.consumer.runner import sync_once

    other = await _consumer(settings, redis, sessionmaker, name="replica-a")
    for n in range(3):
        await publish(redis, _interaction(100 + n, 1, 10))
    read = await redis.xreadgroup(other.group, "replica-a", {STREAM: ">"}, count=10)
    lines: list[str] = []
    sync = asyncio.create_task(
        sync_once(settings, redis=redis, sessionmaker=sessionmaker, progress=lines.append)
    )
    for _ in range(200):  # the sync's consumer has joined the group and read what it can
        names = {c["name"] for c in await redis.xinfo_consumers(STREAM, other.group)}
        if f"{settings.consumer_name}:sync" in names:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the sync never read the stream")
    assert not sync.done()  # replica-a still holds 3 entries pending
    await other._handle_batch(read[0][1])
    assert await asyncio.wait_for(sync, 5) == 0
    assert await _count(sessionmaker, Interaction) == 3


async def test_sync_gives_up_after_its_timeout_with_a_progress_line(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from recommender_service.consumer.runner import sync_once

    other = await _consumer(settings, redis, sessionmaker, name="replica-a")
    await publish(redis, _interaction(100, 1, 10))
    await redis.xreadgroup(other.group, "replica-a", {STREAM: ">"}, count=10)
    await publish(redis, _interaction(101, 1, 10))
    lines: list[str] = []
    applied = await sync_once(
        settings, redis=redis, sessionmaker=sessionmaker, timeout_seconds=0.5,
        progress=lines.append,
    )  # fmt: skip
    assert applied == 1
    assert lines == ["read model still 1 stream entries behind after 0s"]


def test_a_replicas_consumer_name_is_its_host_and_replica_id_not_its_process() -> None:
    first, restarted = Settings(replica_id="r7"), Settings(replica_id="r7")
    assert first.consumer_name == restarted.consumer_name == f"{socket.gethostname()}-r7"
    assert Settings(replica_id="r7", consumer_name="named").consumer_name == "named"


async def _pending(redis: aioredis.Redis, group: str, name: str) -> int:
    consumers = await redis.xinfo_consumers(STREAM, group)
    return next((int(c["pending"]) for c in consumers if c["name"] == name), 0)


async def test_a_restarted_consumer_process_applies_its_own_pending_entries_at_once(
    settings: Settings,
    database_url: str,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """kill -9 mid-batch, start again: the entries come back from its own pending list, long
    before CLAIM_IDLE_MS (10 minutes here) would let anyone reclaim them."""
    group = settings.consumer_group
    await _consumer(settings, redis, sessionmaker)  # the group exists
    await publish(redis, UserUpserted(id=1, niveau=Niveau.L2, filiere=Filiere.MATH))
    for n in range(5):
        await publish(redis, _interaction(100 + n, 1, 10 + n))
    env = {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.redis_url,
        "EVENTS_STREAM": STREAM, "REPLICA_ID": "kill-test", "CLAIM_IDLE_MS": "600000",
        "BOOTSTRAP_ENABLED": "false", "CONSUMER_BLOCK_MS": "100",
    }  # fmt: skip
    name = f"{socket.gethostname()}-kill-test"

    async def consume() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recommender_service", "consume", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    # Hold the interaction table so that the batch, once read, cannot commit.
    blocker = await asyncpg.connect(asyncpg_url(database_url).replace("+asyncpg", ""))
    blocked = blocker.transaction()
    await blocked.start()
    await blocker.execute("LOCK TABLE recommender.interaction IN SHARE MODE")
    process = await consume()
    try:
        for _ in range(600):
            if await _pending(redis, group, name) == 6:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the consumer never read the batch")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await blocked.rollback()
        await blocker.close()
    assert await _pending(redis, group, name) == 6
    assert await _count(sessionmaker, Interaction) == 0

    process = await consume()
    try:
        for _ in range(400):  # 20 s at most, against the 600 s of CLAIM_IDLE_MS
            if await _count(sessionmaker, Interaction) == 5:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the restarted consumer did not apply its pending entries")
        assert await _pending(redis, group, name) == 0
        names = [c["name"] for c in await redis.xinfo_consumers(STREAM, group)]
        assert names == [name]  # the same name again, not a new consumer
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_consumers_idle_for_long_with_nothing_pending_leave_the_group(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    live = await _consumer(settings, redis, sessionmaker, name="live")
    group = live.group
    for name in ("gone-idle", "gone-busy"):
        await publish(redis, UserUpserted(id=len(name)))
        read = await redis.xreadgroup(group, name, {STREAM: ">"}, count=10)
        if name == "gone-idle":  # it acknowledged what it read before it went
            await redis.xack(STREAM, group, *(entry_id for entry_id, _ in read[0][1]))
    await asyncio.sleep(0.1)  # both idle for longer than the 50 ms below
    removed = await forget_idle_consumers(
        redis, stream=STREAM, group=group, keep="live", idle_ms=50
    )
    assert removed == ["gone-idle"]
    names = sorted(c["name"] for c in await redis.xinfo_consumers(STREAM, group))
    assert names == ["gone-busy"]  # "live" has not read yet; "gone-busy" still owes an entry
    assert (
        await forget_idle_consumers(redis, stream=STREAM, group=group, keep="live", idle_ms=60_000)
        == []
    )


async def test_entries_read_during_a_database_outage_are_applied_soon_after_it(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """PostgreSQL stopped while the consumer runs: what it read meanwhile stays pending on its
    own name, is not dead-lettered (the outage is not the entries' fault, even past
    MAX_DELIVERIES retries), and is applied seconds after the server is back, long before
    CLAIM_IDLE_MS (10 minutes here) would let anyone reclaim it."""
    control = PostgresControl.from_env()
    if control is None:
        pytest.skip("PostgreSQL is external (DATABASE_URL set): not stopping it")
    settings = settings.model_copy(
        update={"claim_idle_ms": 600_000, "max_deliveries": 2, "consumer_block_ms": 100}
    )
    consumer = await _consumer(settings, redis, sessionmaker)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await publish(redis, UserUpserted(id=1))
        await _wait_until(lambda: _count(sessionmaker, User), 1, "the first user")
        await asyncio.to_thread(control.stop, "fast")
        try:
            for user_id in range(2, 7):
                await publish(redis, UserUpserted(id=user_id))

            async def read_any() -> int:  # it stops reading at its first failed batch
                return min(1, await _pending(redis, consumer.group, consumer.name))

            await _wait_until(read_any, 1, "a read during the outage")
            await asyncio.sleep(3)  # several failed probes, more than MAX_DELIVERIES of them
        finally:
            await asyncio.to_thread(control.restart, "fast")  # starts the stopped server
        await _wait_until(lambda: _count(sessionmaker, User), 6, "the outage's entries")
        assert await _pending(redis, consumer.group, consumer.name) == 0
        assert await redis.xlen(f"{STREAM}.dead") == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _wait_until(
    probe: Callable[[], Awaitable[int]], expected: int, what: str, seconds: float = 60
) -> None:
    """Polls `probe` until it returns `expected` (generous bound: a loaded CI machine)."""
    deadline = asyncio.get_running_loop().time() + seconds
    value: int | str = "no answer"
    while True:
        try:
            value = await probe()
        except Exception as exc:  # the pool's connections died with the restarted server
            if not is_unavailable(exc):
                raise
        if value == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: {value} after {seconds:.0f} s, expected {expected}")
        await asyncio.sleep(0.1)
