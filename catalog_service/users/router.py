"""/v1/users: the caller's own profile and history; admin management of everyone."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from catalog_service.auth.dependencies import AdminUser, CurrentUser
from catalog_service.dependencies import IdPath, SessionDep
from catalog_service.interactions import service as interactions
from catalog_service.interactions.schemas import InteractionRead
from catalog_service.pagination import Page, PageDep
from catalog_service.users import service
from catalog_service.users.schemas import UserAdminUpdate, UserFilters, UserRead, UserSelfUpdate
from shared.enums import InteractionKind
from shared.http_errors import error_responses

router = APIRouter(
    prefix="/v1/users", tags=["users"], responses=error_responses(400, 401, 403, 404, 409, 422, 503)
)


@router.get("/me", name="read_me")
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me", name="update_me")
async def update_me(data: UserSelfUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    """Changes the caller's name, niveau, filière; or the password (with `current_password`)."""
    updated = await service.update_self(session=session, user=user, data=data)
    return UserRead.model_validate(updated)


@router.get("/me/interactions", name="my_interactions")
async def my_interactions(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    kind: InteractionKind | None = None,
) -> Page[InteractionRead]:
    """The caller's own interactions, newest first."""
    rows, total = await interactions.list_for_user(
        session=session, user_id=user.id, kind=kind, page=page
    )
    return Page[InteractionRead].of([InteractionRead.from_row(r) for r in rows], total, page)


@router.get("", name="list_users")
async def list_users(
    _admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    filters: Annotated[UserFilters, Query()],
) -> Page[UserRead]:
    rows, total = await service.list_users(session=session, filters=filters, page=page)
    return Page[UserRead].of([UserRead.model_validate(r) for r in rows], total, page)


@router.get("/{user_id}", name="read_user")
async def read_user(user_id: IdPath, _admin: AdminUser, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get_user(session=session, user_id=user_id))


@router.patch("/{user_id}", name="update_user")
async def update_user(
    user_id: IdPath, data: UserAdminUpdate, admin: AdminUser, session: SessionDep
) -> UserRead:
    """Changes a user's role, activity, niveau, filière or name."""
    user = await service.admin_update(session=session, admin=admin, user_id=user_id, data=data)
    return UserRead.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, name="deactivate_user")
async def deactivate_user(user_id: IdPath, admin: AdminUser, session: SessionDep) -> None:
    """Deactivates the account (soft delete: its history stays)."""
    await service.deactivate(session=session, admin=admin, user_id=user_id)
