"""Column type for our StrEnums: VARCHAR + CHECK in the database, stored as the enum's code."""

from enum import StrEnum

from sqlalchemy import Enum


def enum_column(enum: type[StrEnum], length: int = 16) -> Enum:
    # The CHECK constraints are written in the migrations; the ORM only maps values.
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
