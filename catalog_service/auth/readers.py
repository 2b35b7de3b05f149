"""Authenticating reads without the database: a token verified once is remembered (its
signature cannot change; its expiry is checked at every use), and the account's standing comes
from `auth.standing` (memory, else Redis, else the database). `ReaderClaims` is the dependency;
`reader_in_memory` the same check from memory alone, for answers sent before routing
(`recommendations.memory_hits`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State
from starlette.types import Scope

from catalog_service.auth.dependencies import oauth2_scheme
from catalog_service.auth.standing import Standing, Standings
from catalog_service.auth.tokens import TokenClaims, TokenSigner, TokenType
from catalog_service.errors import Unauthorized

_KEPT = 10_000


class VerifiedTokens:
    """Access tokens this process verified, by their exact text (bounded, least recent out)."""

    def __init__(self, signer: TokenSigner, *, max_tokens: int = _KEPT) -> None:
        self.signer = signer
        self.max_tokens = max_tokens
        self._claims: OrderedDict[str, TokenClaims] = OrderedDict()

    def remembered(self, token: str) -> TokenClaims | None:
        claims = self._claims.get(token)
        if claims is None or claims.expires_at.timestamp() <= time.time():
            return None
        self._claims.move_to_end(token)
        return claims

    def verify(self, token: str) -> TokenClaims:
        claims = self.remembered(token)
        if claims is None:
            self._claims.pop(token, None)
            claims = self.signer.verify(token, TokenType.ACCESS)  # raises the 401s
            self._claims[token] = claims
            if len(self._claims) > self.max_tokens:
                self._claims.popitem(last=False)
        return claims


def check(claims: TokenClaims, standing: Standing | None) -> TokenClaims:
    """The claims while the token is still its user's to use; the 401s of `check_current`."""
    if standing is None or not standing.active:
        raise Unauthorized("User is unknown or deactivated", code="inactive_user")
    if standing.version != claims.version:
        raise Unauthorized("Token revoked, sign in again", code="token_revoked")
    return claims


async def get_reader_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenClaims:
    if not token:
        raise Unauthorized()
    state = request.app.state
    claims = state.verified_tokens.verify(token)
    standings: Standings = state.standings
    return check(claims, await standings.get(claims.user_id))


def bearer_header(scope: Scope) -> bytes | None:
    """The request's raw Authorization header, read from its ASGI scope."""
    return next((v for k, v in scope["headers"] if k == b"authorization"), None)


def reader_in_memory(state: State, authorization: bytes | None) -> int | None:
    """The user id of a good bearer token, if memory alone can tell; None otherwise (then the
    routed request decides, with every check and its error)."""
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None
    claims = state.verified_tokens.remembered(authorization[7:].decode("latin-1"))
    if claims is None:
        return None
    standing = state.standings.remembered(claims.user_id)
    if standing is None or not standing.active or standing.version != claims.version:
        return None
    return int(claims.user_id)


ReaderClaims = Annotated[TokenClaims, Depends(get_reader_claims)]
