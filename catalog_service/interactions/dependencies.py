"""The ingest path's own dependencies: the caller's id from the token, an autocommit engine.

All `async def`: FastAPI runs a plain `def` dependency in a worker thread, a thread hand-off
per dependency per request (measured ~3 per POST /v1/interactions before this).
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_service.auth.dependencies import oauth2_scheme
from catalog_service.auth.tokens import TokenSigner, TokenType
from catalog_service.errors import Unauthorized


async def get_token_user_id(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> int:
    """The id in a valid access token. Whether that user is active is checked by the write
    statement itself (interactions.service.ingest), on every request."""
    if not token:
        raise Unauthorized()
    signer: TokenSigner = request.app.state.token_signer
    return signer.verify(token, TokenType.ACCESS)


async def get_autocommit_engine(request: Request) -> AsyncEngine:
    """The app's engine in AUTOCOMMIT isolation (same pool), made once per engine."""
    state = request.app.state
    engine: AsyncEngine = state.engine
    cached: tuple[AsyncEngine, AsyncEngine] | None = getattr(state, "autocommit_engine", None)
    if cached is None or cached[0] is not engine:
        cached = (engine, engine.execution_options(isolation_level="AUTOCOMMIT"))
        state.autocommit_engine = cached
    return cached[1]


TokenUserId = Annotated[int, Depends(get_token_user_id)]
AutocommitEngine = Annotated[AsyncEngine, Depends(get_autocommit_engine)]
