"""Loading the catalog's history through its export endpoints (DESIGN §3, "Bootstrap").

Used when the read model is empty (a new replica set joining an existing catalog) or when the
stream no longer holds what the group missed (trimmed past its last delivered entry). The
stream's last id is noted *before* the export: every entry up to it describes a change already
committed in the catalog, hence already in the export, so a group created (or moved) there loses
nothing; entries after it overlap with the export and idempotency absorbs them. The group must
not be created before this decision (at `0` it would replay the whole stream after the export):
`runner.position_group` orders the two, under a Redis lock shared by the replicas.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel.bulk import Applied, apply_batch
from recommender_service.readmodel.service import is_empty
from shared.events import (
    EpreuveUpserted,
    EvaluationUpserted,
    InteractionCreated,
    Payload,
    UserUpserted,
)
from shared.service_auth import SERVICE_KEY_HEADER

log = logging.getLogger(__name__)

# Order matters only for readability of the read model: users and items before their links.
EXPORTS: tuple[tuple[str, type[Payload], bool], ...] = (
    ("users", UserUpserted, True),
    ("epreuves", EpreuveUpserted, True),
    ("interactions", InteractionCreated, True),
    ("evaluations", EvaluationUpserted, False),  # optional: older catalogs may not export it
)


class BootstrapError(RuntimeError):
    pass


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _group_info(redis: aioredis.Redis, stream: str, group: str) -> dict[str, Any] | None:
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return None
    return next((g for g in groups if g["name"] == group), None)


async def _first_entry_id(redis: aioredis.Redis, stream: str) -> str | None:
    first: Any = await redis.xrange(stream, count=1)
    return str(first[0][0]) if first else None


async def _last_entry_id(redis: aioredis.Redis, stream: str) -> str:
    last: Any = await redis.xrevrange(stream, count=1)
    return str(last[0][0]) if last else "0"


async def stream_gap(redis: aioredis.Redis, *, stream: str, group: str) -> bool:
    """True when the stream was trimmed past what the group has read (events were lost)."""
    info = await _group_info(redis, stream, group)
    first = await _first_entry_id(redis, stream)
    if info is None or first is None:
        return False
    return _id_tuple(info["last-delivered-id"]) < _id_tuple(first)


async def needs_bootstrap(
    *, session: AsyncSession, redis: aioredis.Redis, stream: str, group: str
) -> bool:
    return await is_empty(session) or await stream_gap(redis, stream=stream, group=group)


async def bootstrap(
    *,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    stream: str,
    group: str,
    service_key: str,
    page_size: int = 1000,
) -> dict[str, int]:
    """Imports the catalog's export, then positions the group; returns rows read per resource."""
    high_water = await _last_entry_id(redis, stream)
    imported = {}
    for resource, model, required in EXPORTS:
        imported[resource] = await _import(
            client, sessionmaker, resource, model, required, service_key, page_size
        )
    # Forward only: entries up to the high-water mark are in the export, so skipping them loses
    # nothing, whether the group was behind a trim or simply never consumed them.
    info = await _group_info(redis, stream, group)
    if info is None:
        await redis.xgroup_create(stream, group, id=high_water, mkstream=True)
    elif _id_tuple(info["last-delivered-id"]) < _id_tuple(high_water):
        await redis.xgroup_setid(stream, group, id=high_water)
    log.info("bootstrap: imported %s; group %s from %s", imported, group, high_water)
    return imported


async def _import(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    resource: str,
    model: type[Payload],
    required: bool,
    service_key: str,
    page_size: int,
) -> int:
    after_id: int | None = 0
    count = 0
    while after_id is not None:
        # Rows without their own time are stamped with the request's start: a stream event
        # newer than that still wins, an older one (already reflected in the row) does not.
        stamp = datetime.now(UTC)
        try:
            response = await client.get(
                f"/internal/export/{resource}",
                params={"after_id": after_id, "limit": page_size},
                headers={SERVICE_KEY_HEADER: service_key},
            )
        except httpx.HTTPError as exc:
            raise BootstrapError(f"catalog export {resource}: {exc}") from exc
        if response.status_code == 404 and not required:
            return 0
        if response.status_code != 200:
            raise BootstrapError(f"catalog export {resource}: HTTP {response.status_code}")
        page = response.json()
        rows = []
        for raw in page["items"]:
            try:
                payload = model.model_validate(raw)
            except ValidationError as exc:
                log.warning("bootstrap: skipping bad %s row %s: %s", resource, raw, exc)
                continue
            rows.append(Applied(payload, _parse_time(raw.get("updated_at")) or stamp))
        async with sessionmaker() as session, session.begin():
            await apply_batch(session, rows)
        count += len(rows)
        after_id = page.get("next_after_id")
    return count


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
