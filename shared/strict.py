"""Strict JSON integers: a JSON number without a fraction (`5` or `5.0`), never a boolean or a
string. Lax pydantic would store `true` as 1 and `"12"` as 12; fully strict pydantic would
refuse `5.0`, which JSON Schema calls an integer.

Put `IntOnly` last, after the bounds, so that the OpenAPI still shows them:
`Annotated[int, Field(ge=1, le=5), IntOnly]`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def _no_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str | bytes):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


IntOnly = BeforeValidator(_no_bool_or_text)
