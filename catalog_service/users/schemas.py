"""User schemas: registration, own profile, admin views."""

import re
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from shared.enums import Filiere, Niveau, Role

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class UserRegister(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "awa.diop@univ.example",
                    "password": "correct horse battery",
                    "full_name": "Awa Diop",
                    "niveau": "L2",
                    "filiere": "MATH",
                }
            ]
        }
    )

    email: Email
    password: Password
    full_name: FullName
    niveau: Niveau
    filiere: Filiere


class UserCreate(BaseModel):
    """What an admin (or the CLI) creates: any role; niveau optional for staff."""

    email: Email
    password: Password
    full_name: FullName
    role: Role = Role.STUDENT
    niveau: Niveau | None = None
    filiere: Filiere | None = None


class UserSelfUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"niveau": "L3"},
                {"current_password": "old password", "password": "new long password"},
            ]
        },
    )

    full_name: FullName | None = None
    niveau: Niveau | None = None
    filiere: Filiere | None = None
    current_password: str | None = None
    # The new password; `new_password` is accepted too.
    password: Password | None = Field(
        default=None, validation_alias=AliasChoices("password", "new_password")
    )


class UserAdminUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "teacher"}]})

    full_name: FullName | None = None
    role: Role | None = None
    is_active: bool | None = None
    niveau: Niveau | None = None
    filiere: Filiere | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    niveau: Niveau | None
    filiere: Filiere | None
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UserPublic(BaseModel):
    """What anyone may see of another user (no email)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    full_name: str


class UserFilters(BaseModel):
    role: Role | None = None
    niveau: Niveau | None = None
    filiere: Filiere | None = None
    is_active: bool | None = None
    q: str | None = Field(default=None, max_length=100)
