"""JWT access and refresh tokens: the only module that imports python-jose (DESIGN §5).

Swapping the library means rewriting this file only. Decoding always passes the one accepted
algorithm, requires `exp`, `iat` and `sub`, and checks the `type` claim, so a refresh token
cannot be used as an access token (nor the reverse), and `alg: none` or an algorithm switch
(HS512, RS256 with the secret as "public key") is refused.

Every token also carries `ver`, its user's token version when it was issued (revocation: a
token whose `ver` is not the user's current one is refused, see auth.revocation), and a refresh
token a `jti`, a unique id (it is redeemed once, by that id; access tokens need none, and stay
short: they are checked on every request). A counter rather than a time: `iat` is whole
seconds, so "issued before the password change" cannot be told by the clock when both happen
within the same second.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

from catalog_service.errors import Unauthorized


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says."""

    user_id: int
    version: int  # the user's token version at issue
    token_id: uuid.UUID | None  # jti: refresh tokens only
    expires_at: datetime


def _invalid() -> Unauthorized:
    return Unauthorized("Invalid token", code="invalid_token")


@dataclass(frozen=True)
class TokenSigner:
    secret: str
    algorithm: str = "HS256"
    access_ttl: timedelta = timedelta(minutes=30)
    refresh_ttl: timedelta = timedelta(days=7)

    def issue(
        self, user_id: int, token_type: TokenType, *, version: int, now: datetime | None = None
    ) -> str:
        """A signed token for `user_id`, valid while their token version is `version`."""
        issued = now or datetime.now(UTC)
        ttl = self.access_ttl if token_type is TokenType.ACCESS else self.refresh_ttl
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "type": token_type.value,
            "ver": version,
            "iat": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
        }
        if token_type is TokenType.REFRESH:
            claims["jti"] = uuid.uuid4().hex
        return str(jwt.encode(claims, self.secret, algorithm=self.algorithm))

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        """The claims of a valid, unexpired token of the expected type; else Unauthorized.

        Whether the token is still the user's current version is for the caller to check
        (it needs the user's row: auth.revocation)."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != self.algorithm:
                raise _invalid()
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
                # `ver` (and a refresh token's `jti`) are required below: KeyError.
                options={"require_exp": True, "require_iat": True, "require_sub": True},
            )
        except JOSEError as exc:
            expired = type(exc).__name__ == "ExpiredSignatureError"
            raise Unauthorized(
                "Token expired" if expired else "Invalid token",
                code="token_expired" if expired else "invalid_token",
            ) from exc
        if claims.get("type") != expected.value:
            raise Unauthorized(f"Not an {expected.value} token", code="invalid_token")
        try:
            user_id = int(claims["sub"])
            version = claims["ver"]
            token_id = uuid.UUID(hex=claims["jti"]) if expected is TokenType.REFRESH else None
            expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise _invalid() from exc
        # bool is an int in Python: a `true` version is as invalid as a string one.
        if not 1 <= user_id < 2**63 or type(version) is not int or not 0 <= version < 2**31:
            raise _invalid()
        return TokenClaims(user_id, version, token_id, expires_at)
