"""Request-scoped dependencies on what the lifespan created (app.state)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.auth.tokens import TokenSigner
from catalog_service.config import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Services commit explicitly; leaving the block rolls back whatever they did not commit.
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For work that must not hold one connection throughout (an outbound call between)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


# `async def` although they do no I/O: FastAPI runs a plain `def` dependency in its thread pool,
# a hand-off and back on every request.
async def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.token_signer
    return signer


# Row ids are BIGINT: anything outside 1..2^63-1 is a 422, never a database error.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]

SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SignerDep = Annotated[TokenSigner, Depends(get_signer)]
