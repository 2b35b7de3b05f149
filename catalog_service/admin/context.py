"""What the console's pages use of the catalog app: the objects its lifespan creates.

The console is built with the app, before the lifespan has run, so it keeps the app and reads
its state when a request comes.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.config import Settings
from catalog_service.recommendations.client import RecommenderClient


@dataclass(frozen=True)
class Catalog:
    app: FastAPI

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings

    def session(self) -> AsyncSession:
        session: AsyncSession = self.app.state.sessionmaker()
        return session

    @property
    def redis(self) -> Redis:
        redis: Redis = self.app.state.redis
        return redis

    @property
    def recommender(self) -> RecommenderClient:
        client: RecommenderClient = self.app.state.recommender
        return client


class LifespanSessions(async_sessionmaker[AsyncSession]):
    """The sessionmaker sqladmin asks for when the console is built: it hands out sessions of
    the one the lifespan creates later."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(class_=AsyncSession)
        self._catalog = catalog

    def __call__(self, **local_kw: Any) -> AsyncSession:
        session: AsyncSession = self._catalog.app.state.sessionmaker(**local_kw)
        return session
