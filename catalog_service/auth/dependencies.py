"""Who is calling: CurrentUser, TeacherUser (teacher or admin), AdminUser; ReaderId."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select

from catalog_service.auth.tokens import TokenType
from catalog_service.dependencies import SessionDep, SessionmakerDep, SignerDep
from catalog_service.errors import Forbidden, Unauthorized
from catalog_service.users.models import User
from shared.enums import Role

# auto_error=False: a missing token goes through our error shape, not FastAPI's.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


async def get_current_user(
    session: SessionDep, signer: SignerDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        raise Unauthorized()
    user_id = signer.verify(token, TokenType.ACCESS)
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("User is unknown or deactivated", code="inactive_user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_reader_id(
    sessionmaker: SessionmakerDep,
    signer: SignerDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> int:
    """The signed-in user's id, for reads that must not hold a database connection (the
    recommendation routes wait on the recommender): the account is checked in a session of
    its own, closed before the route runs."""
    if not token:
        raise Unauthorized()
    user_id = signer.verify(token, TokenType.ACCESS)
    async with sessionmaker() as session:
        active = await session.scalar(select(User.is_active).where(User.id == user_id))
    if not active:
        raise Unauthorized("User is unknown or deactivated", code="inactive_user")
    return user_id


ReaderId = Annotated[int, Depends(get_reader_id)]


def require_teacher(user: CurrentUser) -> User:
    if user.role not in (Role.TEACHER, Role.ADMIN):
        raise Forbidden("Teachers and admins only")
    return user


def require_admin(user: CurrentUser) -> User:
    if user.role is not Role.ADMIN:
        raise Forbidden("Admins only")
    return user


TeacherUser = Annotated[User, Depends(require_teacher)]
AdminUser = Annotated[User, Depends(require_admin)]
