"""Who is calling: CurrentUser, TeacherUser (teacher or admin), AdminUser (reads that must not
wait on the database: `auth.readers`)."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from catalog_service.auth.revocation import check_current
from catalog_service.auth.tokens import TokenType
from catalog_service.dependencies import SessionDep, SignerDep
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
    claims = signer.verify(token, TokenType.ACCESS)
    return check_current(await session.get(User, claims.user_id), claims)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def require_teacher(user: CurrentUser) -> User:
    if user.role not in (Role.TEACHER, Role.ADMIN):
        raise Forbidden("Teachers and admins only")
    return user


async def require_admin(user: CurrentUser) -> User:
    if user.role is not Role.ADMIN:
        raise Forbidden("Admins only")
    return user


TeacherUser = Annotated[User, Depends(require_teacher)]
AdminUser = Annotated[User, Depends(require_admin)]
