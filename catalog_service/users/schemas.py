"""User schemas: registration, own profile, admin views."""

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool

from catalog_service.patching import Omittable, no_default
from shared.enums import Filiere, Niveau, Role
from shared.text import Email, Line, Secret

Password = Annotated[str, Secret(128, min_length=8)]
FullName = Annotated[str, Line(200)]


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

    # Left out: unchanged. Only niveau and filière may be null (cleared).
    full_name: FullName = Omittable()
    niveau: Niveau | None = None
    filiere: Filiere | None = None
    current_password: Annotated[str, Secret(128)] = Omittable()
    # The new password; `new_password` is accepted too.
    # None only stands for "left out" (Omittable, with an alias): null itself is refused.
    password: Password = Field(  # type: ignore[assignment]
        default=None,
        validation_alias=AliasChoices("password", "new_password"),
        json_schema_extra=no_default,
    )


class UserAdminUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "teacher"}]})

    full_name: FullName = Omittable()
    role: Role = Omittable()
    is_active: StrictBool = Omittable()
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
    q: Annotated[str, Line(100, min_length=0)] | None = None
