"""POST /v1/auth/register, /v1/auth/token (OAuth2 password form), /v1/auth/refresh."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from catalog_service.auth import rate_limit
from catalog_service.auth.revocation import redeem_refresh
from catalog_service.auth.schemas import PasswordForm, RefreshRequest, TokenPair
from catalog_service.auth.tokens import TokenSigner, TokenType
from catalog_service.dependencies import RedisDep, SessionDep, SettingsDep, SignerDep
from catalog_service.errors import Unauthorized
from catalog_service.users import service as users
from catalog_service.users.models import User
from catalog_service.users.schemas import UserCreate, UserRead, UserRegister
from shared.enums import Role
from shared.http_errors import error_responses

router = APIRouter(
    prefix="/v1/auth", tags=["auth"], responses=error_responses(400, 401, 409, 422, 429, 503)
)


async def _limit(
    request: Request, redis: RedisDep, settings: SettingsDep, scope: str, account: str
) -> None:
    """One attempt on `account` from the caller's address, against both budgets
    (`rate_limit.login_budgets`): guessing one account from many IPs, and many accounts from
    one IP, are both slowed down.

    The address is the TCP peer's, or the forwarded client's when the peer is a proxy named in
    FORWARDED_ALLOW_IPS (uvicorn's proxy headers, see catalog_service.__main__); the app itself
    never reads X-Forwarded-For.
    """
    host = request.client.host if request.client else None
    await rate_limit.hit(
        redis=redis,
        scope=scope,
        budgets=rate_limit.login_budgets(settings, host=host, account=account),
        window_s=settings.auth_rate_window_s,
    )


def _pair(signer: TokenSigner, user: User) -> TokenPair:
    version = user.token_version
    return TokenPair(
        access_token=signer.issue(user.id, TokenType.ACCESS, version=version),
        refresh_token=signer.issue(user.id, TokenType.REFRESH, version=version),
        expires_in=int(signer.access_ttl.total_seconds()),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, name="register")
async def register(
    data: UserRegister,
    request: Request,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> UserRead:
    """Creates a student account (the role is always `student` here)."""
    await _limit(request, redis, settings, "register", data.email)
    user = await users.create_user(
        session=session, data=UserCreate(**data.model_dump(), role=Role.STUDENT)
    )
    return UserRead.model_validate(user)


@router.post("/token", name="token")
async def token(
    form: Annotated[PasswordForm, Depends()],
    request: Request,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
    signer: SignerDep,
) -> TokenPair:
    """OAuth2 password flow: `username` is the email. Returns an access and a refresh token."""
    await _limit(request, redis, settings, "token", form.username)
    user = await users.authenticate(session=session, email=form.username, password=form.password)
    if user is None:
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    return _pair(signer, user)


@router.post("/refresh", name="refresh")
async def refresh(body: RefreshRequest, session: SessionDep, signer: SignerDep) -> TokenPair:
    """A new token pair for a valid refresh token of an active user.

    Rotation: the pair replaces the refresh token, which is refused from then on; presenting
    it again revokes every token of the account (`refresh_token_reused`).
    """
    claims = signer.verify(body.refresh_token, TokenType.REFRESH)
    user = await redeem_refresh(session=session, claims=claims)
    return _pair(signer, user)
