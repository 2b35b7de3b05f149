"""Token pair, refresh request, and the OAuth2 password form under the text policy."""

from typing import Annotated

from fastapi import Form
from pydantic import BaseModel, ConfigDict, Field

from shared.text import Line, Secret


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Access token lifetime in seconds")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "eyJhbGciOi..."}]})

    refresh_token: Annotated[str, Line(4096)]


class PasswordForm:
    """FastAPI's OAuth2PasswordRequestForm with each field under the text policy, so that a
    NUL in the username is a 422 before any lookup. `username` is the email; it is looked up
    under its folded spelling (any address that is not an account is a 401, not a 422)."""

    def __init__(
        self,
        username: Annotated[str, Form(), Line(320)],
        password: Annotated[str, Form(), Secret(128)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form(), Line(1000, min_length=0)] = "",
        client_id: Annotated[Annotated[str, Line(200)] | None, Form()] = None,
        client_secret: Annotated[Annotated[str, Secret(200)] | None, Form()] = None,
    ) -> None:
        self.username = username
        self.password = password
        self.grant_type = grant_type
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret
