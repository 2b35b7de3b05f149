"""POST /v1/interactions: the caller records what they did with an épreuve.

The hot path of the catalog: a request with a bearer token and a valid JSON body is answered by
`fast_create` before routing (`shared.fast_path.EarlyAnswers`), with the same model, token
check, batcher and errors as the route; anything else (no token, another content type, a body
that does not validate) by the route, through FastAPI's dependencies and validation.
"""

import json

from fastapi import APIRouter, Request, status
from fastapi.responses import Response
from pydantic import ValidationError

from catalog_service.auth.dependencies import oauth2_scheme
from catalog_service.interactions.batcher import IngestBatcher
from catalog_service.interactions.dependencies import (
    AccessClaims,
    Batcher,
    get_batcher,
    get_token_claims,
)
from catalog_service.interactions.schemas import InteractionCreate, InteractionRead
from shared.fast_path import EarlyRoute, plain_json
from shared.http_errors import error_responses
from shared.responses import JSONBytes

router = APIRouter(
    prefix="/v1/interactions",
    tags=["interactions"],
    responses=error_responses(400, 401, 404, 422, 503),
)


async def _record(
    user_id: int, version: int, data: InteractionCreate, batcher: IngestBatcher
) -> InteractionRead:
    # Written in a group commit with the requests of the same moment; 201 after COMMIT.
    row = await batcher.submit(
        user_id=user_id,
        token_version=version,
        epreuve_id=data.epreuve_id,
        kind=data.kind,
        metadata=data.metadata,
        relevance=data.relevance,
        recommendation_id=data.recommendation_id,
    )
    return InteractionRead.from_row(row)


async def fast_create(request: Request) -> Response | None:
    """The common case of `create_interaction`, or None to leave the request to it."""
    token = await oauth2_scheme(request)
    if not token or not plain_json(request):
        return None
    try:
        data = InteractionCreate.model_validate(json.loads(await request.body()))
    except (ValueError, ValidationError):  # JSON or model: the route says what is wrong
        return None
    claims = await get_token_claims(request, token)
    read = await _record(claims.user_id, claims.version, data, await get_batcher(request))
    return JSONBytes(read.__pydantic_serializer__.to_json(read), status.HTTP_201_CREATED)


async def create_interaction(
    data: InteractionCreate, claims: AccessClaims, batcher: Batcher
) -> InteractionRead:
    """Records a CLICK, VIEW, DOWNLOAD or RATE by the caller (always for themself)."""
    return await _record(claims.user_id, claims.version, data, batcher)


router.add_api_route(
    "",
    create_interaction,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    name="create_interaction",
)
# The common case, answered before routing (`shared.fast_path.EarlyAnswers`, in catalog.main).
early_routes: dict[tuple[str, str], EarlyRoute] = {
    ("POST", "/v1/interactions"): (router.routes[-1], fast_create)
}
