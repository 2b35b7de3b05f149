"""Consumer replay benchmark: events per second from a full stream into the read model.

Starts embedded PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL), migrates, publishes a
demo-sized history (users, épreuves, interactions, evaluations) to a fresh stream, then times
`StreamConsumer.drain()` from id 0 for each batch size asked (a batch of 1 is the per-event path:
one transaction per entry). The read model is truncated between runs.

    nice -n 10 .venv/bin/python benchmarks/consumer_replay.py --events 20000 --batches 1 100 500
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau  # noqa: E402
from shared.events import (  # noqa: E402
    EpreuveUpserted,
    EvaluationUpserted,
    Event,
    InteractionCreated,
    Payload,
    UserUpserted,
)

STREAM = "bench.catalog.events"


def history(n_events: int, seed: int = 0) -> list[Payload]:
    rng = random.Random(seed)
    n_users, n_items = max(10, n_events // 40), max(10, n_events // 100)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    events: list[Payload] = [
        UserUpserted(id=u, niveau=rng.choice(list(Niveau)), filiere=rng.choice(list(Filiere)))
        for u in range(1, n_users + 1)
    ]
    events += [
        EpreuveUpserted(
            id=i,
            title=f"Épreuve {i}",
            matiere="Analyse",
            filiere=rng.choice(list(Filiere)),
            niveau=rng.choice(list(Niveau)),
            type=rng.choice(list(EpreuveType)),
            annee=2024,
        )
        for i in range(1, n_items + 1)
    ]
    n = 0
    while len(events) < n_events:
        n += 1
        user, item = rng.randint(1, n_users), rng.randint(1, n_items)
        at = t0 + timedelta(minutes=n)
        if n % 10 == 0:
            events.append(
                EvaluationUpserted(
                    user_id=user, epreuve_id=item, difficulty=3, relevance=4, updated_at=at
                )
            )
        else:
            kind = rng.choice(
                [InteractionKind.VIEW, InteractionKind.CLICK, InteractionKind.DOWNLOAD]
            )
            events.append(
                InteractionCreated(id=n, user_id=user, epreuve_id=item, kind=kind, created_at=at)
            )
    return events


async def run(database_url: str, redis_url: str, n_events: int, batches: list[int]) -> None:
    import redis.asyncio as aioredis

    from recommender_service.config import Settings
    from recommender_service.consumer.runner import make_consumer
    from shared.database import make_engine, make_sessionmaker

    redis = aioredis.from_url(redis_url, decode_responses=True)
    engine = make_engine(database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    await redis.delete(STREAM, f"{STREAM}.dead")
    async with redis.pipeline(transaction=False) as pipe:
        for payload in history(n_events):
            pipe.xadd(STREAM, Event.of(payload).to_fields())  # type: ignore[arg-type]
        await pipe.execute()
    print(f"{n_events} events in the stream", flush=True)
    for batch in batches:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE recommender.interaction, recommender.user, recommender.item, "
                    "recommender.evaluation"
                )
            )
        await redis.xgroup_destroy(STREAM, "bench")
        await redis.xgroup_create(STREAM, "bench", id="0")
        settings = Settings(
            database_url=database_url, redis_url=redis_url, events_stream=STREAM,
            consumer_group="bench", consumer_name="bench-1", consumer_batch=batch,
        )  # fmt: skip
        consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
        limit = n_events if batch > 1 else min(n_events, 2000)  # per-event: a sample is enough
        started = time.perf_counter()
        done = 0
        while done < limit and (handled := await consumer.run_once(block=False)):
            done += handled
        seconds = time.perf_counter() - started
        print(
            f"batch {batch:>4}: {done} events in {seconds:.2f}s = {done / seconds:,.0f} events/s",
            flush=True,
        )
    await redis.aclose()
    await engine.dispose()


def main() -> None:
    import os

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100, 500])
    args = parser.parse_args()
    from migrations.runner import upgrade
    from shared.devstack import servers

    with (
        tempfile.TemporaryDirectory(prefix="bench-replay-") as scratch,
        servers(Path(scratch), keep=False, database="postgres") as started,
    ):
        database_url = started.env.get("DATABASE_URL") or os.environ["DATABASE_URL"]
        redis_url = started.env.get("REDIS_URL") or os.environ["REDIS_URL"]
        upgrade("recommender", database_url)
        asyncio.run(run(database_url, redis_url, args.events, args.batches))


if __name__ == "__main__":
    main()
