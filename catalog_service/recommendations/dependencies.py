"""The recommendation routes' dependencies on what the lifespan created: the process's shared
recommender client and the answer cache (`async def`: no thread-pool hop for a lookup)."""

from typing import Annotated

from fastapi import Depends, Request

from catalog_service.recommendations.cache import AnswerCache
from catalog_service.recommendations.client import RecommenderClient


async def get_recommender(request: Request) -> RecommenderClient:
    client: RecommenderClient = request.app.state.recommender
    return client


async def get_answers(request: Request) -> AnswerCache:
    cache: AnswerCache = request.app.state.answers
    return cache


RecommenderDep = Annotated[RecommenderClient, Depends(get_recommender)]
AnswersDep = Annotated[AnswerCache, Depends(get_answers)]
