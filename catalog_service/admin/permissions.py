"""What each role may do in the console (sqladmin asks per page, per button and per row).

Admins: everything. Teachers: the catalogue (list, view, create) and the dashboard; edit,
soft-delete and restore only their own épreuves, by the same rule as the API
(`epreuves.service.can_edit`). Students never get this far (see auth.py).
"""

from typing import Any

from sqladmin.authorization import Action, AuthorizationBackend
from starlette.requests import Request

from catalog_service.admin.auth import maybe_user
from catalog_service.epreuves import service as epreuves
from catalog_service.epreuves.models import Epreuve
from shared.enums import Role

EPREUVE = "epreuve"
DASHBOARD = "dashboard"
# The row-level actions on an épreuve, where the API's ownership rule decides.
OWNER_ACTIONS = frozenset({Action.EDIT, Action.DELETE, "action:soft-delete", "action:restore"})
TEACHER_EPREUVE_ACTIONS = frozenset({Action.LIST, Action.DETAILS, Action.CREATE}) | OWNER_ACTIONS


class ConsolePermissions(AuthorizationBackend):
    def has_permission(
        self, request: Request, identity: str, action: str, obj: Any | None = None
    ) -> bool:
        user = maybe_user(request)
        if user is None:
            return False
        if user.role is Role.ADMIN:
            return True
        if user.role is not Role.TEACHER:
            return False
        if identity == DASHBOARD:
            return action == Action.LIST
        if identity != EPREUVE or action not in TEACHER_EPREUVE_ACTIONS:
            return False
        if action in OWNER_ACTIONS and isinstance(obj, Epreuve):
            return epreuves.can_edit(user, obj)
        # No row yet (a button above the list): the action's handler checks each row.
        return True
