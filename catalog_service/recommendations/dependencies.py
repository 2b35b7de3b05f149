"""The recommendation routes' dependencies on what the lifespan created: the process's shared
recommender client, the answer cache and the impression log (`async def`: no thread-pool hop
for a lookup)."""

from typing import Annotated

from fastapi import Depends, Request

from catalog_service.impressions.log import ImpressionLog
from catalog_service.recommendations.cache import AnswerCache
from catalog_service.recommendations.client import RecommenderClient


async def get_recommender(request: Request) -> RecommenderClient:
    client: RecommenderClient = request.app.state.recommender
    return client


async def get_answers(request: Request) -> AnswerCache:
    cache: AnswerCache = request.app.state.answers
    return cache


async def get_impressions(request: Request) -> ImpressionLog:
    log: ImpressionLog = request.app.state.impressions
    return log


RecommenderDep = Annotated[RecommenderClient, Depends(get_recommender)]
ImpressionsDep = Annotated[ImpressionLog, Depends(get_impressions)]
AnswersDep = Annotated[AnswerCache, Depends(get_answers)]
