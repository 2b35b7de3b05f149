"""Annotated dependencies of the API, declared once.

Those that only read app state are `async def`: FastAPI runs a plain `def` dependency in its
thread pool, a hand-off and back on every request for a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.serving.service import Serving
from recommender_service.training.scheduler import BackgroundRuns


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_serving(request: Request) -> Serving:
    return request.app.state.serving


async def get_redis(request: Request) -> aioredis.Redis:
    return request.app.state.redis


async def get_runs(request: Request) -> BackgroundRuns:
    return request.app.state.runs


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ServingDep = Annotated[Serving, Depends(get_serving)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
RunsDep = Annotated[BackgroundRuns, Depends(get_runs)]
