"""JWT access and refresh tokens: the only module that imports python-jose (DESIGN §5).

Swapping the library means rewriting this file only. Decoding always passes the one accepted
algorithm, requires `exp`, `iat` and `sub`, and checks the `type` claim, so a refresh token
cannot be used as an access token (nor the reverse), and `alg: none` or an algorithm switch
(HS512, RS256 with the secret as "public key") is refused.
"""

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


@dataclass(frozen=True)
class TokenSigner:
    secret: str
    algorithm: str = "HS256"
    access_ttl: timedelta = timedelta(minutes=30)
    refresh_ttl: timedelta = timedelta(days=7)

    def issue(self, user_id: int, token_type: TokenType, *, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        ttl = self.access_ttl if token_type is TokenType.ACCESS else self.refresh_ttl
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "type": token_type.value,
            "iat": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
        }
        return str(jwt.encode(claims, self.secret, algorithm=self.algorithm))

    def verify(self, token: str, expected: TokenType) -> int:
        """The user id of a valid, unexpired token of the expected type; else Unauthorized."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != self.algorithm:
                raise Unauthorized("Invalid token", code="invalid_token")
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
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
        except (TypeError, ValueError) as exc:
            raise Unauthorized("Invalid token", code="invalid_token") from exc
        if not 1 <= user_id < 2**63:
            raise Unauthorized("Invalid token", code="invalid_token")
        return user_id
