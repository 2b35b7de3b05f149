"""The ingest path's own dependencies: the caller's token claims, the group-commit batcher.

All `async def`: FastAPI runs a plain `def` dependency in a worker thread, a thread hand-off
per dependency per request (measured ~3 per POST /v1/interactions before this).
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_service.auth.dependencies import oauth2_scheme
from catalog_service.auth.readers import VerifiedTokens
from catalog_service.auth.tokens import TokenClaims
from catalog_service.errors import Unauthorized
from catalog_service.interactions.batcher import IngestBatcher
from catalog_service.recommendations.cache import AnswerCache


async def get_token_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenClaims:
    """The claims of a valid access token, its signature verified once per process (the
    readers' memory, `auth.readers`; expiry checked at every use). Whether that user is active
    and the token still theirs (its version) is checked by the write statement itself
    (interactions.batcher), on every request."""
    if not token:
        raise Unauthorized()
    verified: VerifiedTokens = request.app.state.verified_tokens
    return verified.verify(token)


async def get_batcher(request: Request) -> IngestBatcher:
    """The process's group-commit batcher on the app's engine, made once per engine. Each
    committed batch retires its users' cached recommendations before they are answered."""
    state = request.app.state
    engine: AsyncEngine = state.engine
    batcher: IngestBatcher | None = getattr(state, "ingest_batcher", None)
    if batcher is None or batcher.engine is not engine:
        answers: AnswerCache = state.answers
        batcher = state.ingest_batcher = IngestBatcher(
            engine, on_committed=lambda users: answers.forget(users=users)
        )
    return batcher


AccessClaims = Annotated[TokenClaims, Depends(get_token_claims)]
Batcher = Annotated[IngestBatcher, Depends(get_batcher)]
