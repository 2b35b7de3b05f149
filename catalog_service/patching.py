"""PATCH bodies: a field left out is left alone; `null` is a value, refused where the column
cannot hold it (a 422, not a database error), and the OpenAPI says so."""

from typing import Any

from pydantic import Field


def no_default(schema: dict[str, Any]) -> None:
    # The field is optional, not nullable: drop the `"default": null` pydantic would show.
    schema.pop("default", None)


def Omittable() -> Any:
    """`title: Title = Omittable()`: may be left out, may not be null."""
    return Field(default=None, json_schema_extra=no_default)
