"""RecommenderDep: the process's shared recommender client, created in the app's lifespan."""

from typing import Annotated

from fastapi import Depends, Request

from catalog_service.recommendations.client import RecommenderClient


def get_recommender(request: Request) -> RecommenderClient:
    client: RecommenderClient = request.app.state.recommender
    return client


RecommenderDep = Annotated[RecommenderClient, Depends(get_recommender)]
