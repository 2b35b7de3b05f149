"""The Users page: list, filter, search; edit role, niveau and filière; deactivate and
reactivate, through `users.service` (its outbox events and its self-demotion rule). Password
hashes are never listed, shown nor editable."""

from typing import Any, ClassVar

from pydantic import ValidationError
from sqladmin import action
from sqladmin.filters import BooleanFilter
from starlette.requests import Request
from starlette.responses import Response

from catalog_service.admin.auth import current_user
from catalog_service.admin.views.base import CatalogView, invalid, row_id, selected_ids
from catalog_service.admin.views.fields import codes_filter, enum_field_args
from catalog_service.users import service as users
from catalog_service.users.models import User
from catalog_service.users.schemas import UserAdminUpdate
from shared.enums import Filiere, Niveau, Role

FIELDS = ("full_name", "role", "niveau", "filiere")
SHOWN: list[Any] = [
    User.id, User.email, User.full_name, User.role, User.niveau, User.filiere, User.is_active,
    User.created_at,
]  # fmt: skip


class UserAdmin(CatalogView, model=User):
    identity = "user"
    name = "User"
    name_plural = "Users"
    icon = "fa-solid fa-users"
    can_create = False  # accounts come from registration, the CLI or FIRST_ADMIN_*
    can_delete = False  # deactivation keeps the history; it is an action below

    column_list: ClassVar[Any] = SHOWN
    column_details_list: ClassVar[Any] = [*SHOWN, User.updated_at]
    column_labels: ClassVar[Any] = {
        "id": "#", "email": "Email", "full_name": "Name", "role": "Role", "niveau": "Niveau",
        "filiere": "Filière", "is_active": "Active", "created_at": "Created",
        "updated_at": "Updated",
    }  # fmt: skip
    column_searchable_list: ClassVar[Any] = [User.email, User.full_name]
    column_sortable_list: ClassVar[Any] = [User.id, User.email, User.full_name, User.created_at]
    column_default_sort: ClassVar[Any] = [(User.id, False)]
    column_filters: ClassVar[Any] = [
        codes_filter(User.role, Role, "Role"),
        codes_filter(User.niveau, Niveau, "Niveau"),
        codes_filter(User.filiere, Filiere, "Filière"),
        BooleanFilter(User.is_active, title="Active"),
    ]
    form_columns: ClassVar[Any] = list(FIELDS)
    form_args: ClassVar[Any] = enum_field_args("role", "niveau", "filiere")

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> User:
        try:
            changes = UserAdminUpdate.model_validate({k: data.get(k) for k in FIELDS})
        except ValidationError as exc:
            raise invalid(exc) from None
        async with self.catalog.session() as session:
            return await users.admin_update(
                session=session, admin=current_user(request), user_id=row_id(pk), data=changes
            )

    @action(
        name="deactivate",
        label="Deactivate",
        confirmation_message="Deactivate the selected accounts? They can no longer sign in.",
    )
    async def deactivate(self, request: Request) -> Response:
        admin = current_user(request)
        async with self.catalog.session() as session:
            for user_id in selected_ids(request):
                await users.deactivate(session=session, admin=admin, user_id=user_id)
        return self.back_to_list(request, "Account(s) deactivated")

    @action(name="reactivate", label="Reactivate", confirmation_message="Reactivate them?")
    async def reactivate(self, request: Request) -> Response:
        admin, data = current_user(request), UserAdminUpdate(is_active=True)
        async with self.catalog.session() as session:
            for user_id in selected_ids(request):
                await users.admin_update(session=session, admin=admin, user_id=user_id, data=data)
        return self.back_to_list(request, "Account(s) reactivated")
