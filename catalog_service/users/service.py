"""Users: creation, profile changes, admin management. Each change writes its outbox event."""

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.auth import standing
from catalog_service.auth.passwords import hash_password, verify_password
from catalog_service.auth.revocation import revoke_tokens
from catalog_service.errors import BadRequest, Conflict, NotFound
from catalog_service.outbox.service import record_event
from catalog_service.pagination import PageParams
from catalog_service.text_search import contains_pattern
from catalog_service.users.models import User
from catalog_service.users.schemas import (
    UserAdminUpdate,
    UserCreate,
    UserFilters,
    UserSelfUpdate,
)
from shared.enums import Role
from shared.events import UserDeleted, UserUpserted
from shared.text import fold_email


async def _publish(session: AsyncSession, user: User) -> None:
    # Read off the row by the contract's own fields, as the export does: one field list.
    payload = UserUpserted.model_validate(user, from_attributes=True)
    await record_event(session=session, payload=payload, ordering_key=user.id)


async def create_user(
    *, session: AsyncSession, data: UserCreate, password_hash: str | None = None
) -> User:
    """Inserts the user (409 when the email is taken) and its event; commits."""
    hashed = password_hash or await hash_password(data.password)
    statement = (
        insert(User)
        .values(
            email=data.email,  # already in its one spelling (shared.text.normalise_email)
            password_hash=hashed,
            full_name=data.full_name,
            niveau=data.niveau,
            filiere=data.filiere,
            role=data.role,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User)
    )
    user = (await session.scalars(statement)).one_or_none()
    if user is None:
        raise Conflict("A user with this email already exists", code="email_taken")
    await _publish(session, user)
    await session.commit()
    return user


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found", code="user_not_found")
    return user


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    """The user of `email` under any spelling of it (NFC/NFD, case): `fold_email`."""
    return await session.scalar(select(User).where(User.email == fold_email(email)))


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same cost whether the email exists)."""
    user = await get_by_email(session=session, email=email)
    ok = await verify_password(password, user.password_hash if user else None)
    return user if ok and user is not None and user.is_active else None


async def update_self(*, session: AsyncSession, user: User, data: UserSelfUpdate) -> User:
    changes = data.model_dump(exclude_unset=True, exclude={"current_password", "password"})
    if data.password is not None:
        if not data.current_password or not await verify_password(
            data.current_password, user.password_hash
        ):
            raise BadRequest("current_password is missing or wrong", code="wrong_password")
        changes["password_hash"] = await hash_password(data.password)
    return await _apply(session, user, changes)


async def admin_update(
    *, session: AsyncSession, admin: User, user_id: int, data: UserAdminUpdate
) -> User:
    user = await get_user(session=session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    if user.id == admin.id and (
        changes.get("is_active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN
    ):
        raise Conflict("Admins cannot demote or deactivate themselves", code="self_demotion")
    return await _apply(session, user, changes)


async def deactivate(*, session: AsyncSession, admin: User, user_id: int) -> None:
    """Soft delete: the row stays (épreuves and history reference it), logins stop."""
    if user_id == admin.id:
        raise Conflict("Admins cannot deactivate themselves", code="self_demotion")
    user = await get_user(session=session, user_id=user_id)
    await _apply(session, user, {"is_active": False}, event=UserDeleted(id=user_id))


# A change of any of these revokes every token the user holds (auth.revocation).
_REVOKING = ("password_hash", "role", "is_active")


async def _apply(
    session: AsyncSession,
    user: User,
    changes: dict[str, object],
    *,
    event: UserDeleted | None = None,
) -> User:
    """The one place a user row changes after creation, with its event (`user.upserted`
    unless another is given); commits. A change of what a user's tokens may do
    (`password_hash`, `role`, `is_active`) revokes them all here."""
    revoke = any(f in changes and changes[f] != getattr(user, f) for f in _REVOKING)
    for field, value in changes.items():
        setattr(user, field, value)
    session.add(user)
    await session.flush()
    if revoke:
        await revoke_tokens(session=session, user_id=user.id)
    await session.refresh(user)
    if event is None:
        await _publish(session, user)
    else:
        await record_event(session=session, payload=event, ordering_key=user.id)
    await session.commit()
    await standing.mirrored(session)
    return user


async def list_users(
    *, session: AsyncSession, filters: UserFilters, page: PageParams
) -> tuple[Sequence[User], int]:
    conditions = []
    if filters.role is not None:
        conditions.append(User.role == filters.role)
    if filters.niveau is not None:
        conditions.append(User.niveau == filters.niveau)
    if filters.filiere is not None:
        conditions.append(User.filiere == filters.filiere)
    if filters.is_active is not None:
        conditions.append(User.is_active == filters.is_active)
    if filters.q:
        pattern = contains_pattern(filters.q)
        conditions.append(or_(User.email.ilike(pattern), User.full_name.ilike(pattern)))
    total = await session.scalar(select(func.count()).select_from(User).where(*conditions))
    rows = await session.scalars(
        select(User).where(*conditions).order_by(User.id).limit(page.limit).offset(page.offset)
    )
    return rows.all(), total or 0


async def ensure_admin(*, session: AsyncSession, email: str, password: str) -> bool:
    """Creates the first admin unless that email exists; True when created. Replica-safe."""
    try:
        await create_user(
            session=session,
            data=UserCreate(
                email=email, password=password, full_name="Administrator", role=Role.ADMIN
            ),
        )
    except Conflict:
        await session.rollback()
        return False
    return True
