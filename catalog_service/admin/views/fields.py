"""Form and filter pieces of the console's model pages."""

from enum import Enum, StrEnum
from typing import Any

from sqladmin.filters import ForeignKeyFilter, StaticValuesFilter
from sqlalchemy import select
from starlette.requests import Request

from catalog_service.users.models import User
from shared.enums import Role


def code(value: Any) -> str:
    # sqladmin's default coerces an enum to its *name*; our columns store its code
    # (Role.ADMIN is "admin"), so an edit form would otherwise preselect nothing.
    return value.value if isinstance(value, Enum) else str(value)


def enum_field_args(*names: str) -> dict[str, dict[str, Any]]:
    return {name: {"coerce": code} for name in names}


def codes_filter(column: Any, enum: type[StrEnum], title: str) -> StaticValuesFilter:
    return StaticValuesFilter(column, [(e.value, e.value) for e in enum], title=title)


class StaffFilter(ForeignKeyFilter):
    """The épreuve's teacher, chosen among teachers and admins only (not every account)."""

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        rows = await run_query(
            select(User.id, User.full_name)
            .where(User.role.in_((Role.TEACHER, Role.ADMIN)))
            .order_by(User.full_name)
        )
        return [("__all", "All"), *((str(i), name) for i, name in rows)]
