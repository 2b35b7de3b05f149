"""The text policy: what text either service accepts, wherever it enters (JSON fields, form
fields, query parameters, file names, JSON keys and nested values).

- Every string is NFC-normalised, so that what is checked is what is stored and compared.
- Control characters (Unicode Cc: NUL, ESC, DEL, …) and lone surrogates are refused:
  PostgreSQL cannot store NUL, and the others only hide or forge content. Free text
  (`Text`: a comment, a description) keeps tab, newline and carriage return.
- One-line text (`Line`: a title, a name, a search) also refuses line and paragraph
  separators and the bidirectional embedding / override / isolate controls
  (U+202A–U+202E, U+2066–U+2069), which reorder what is displayed around them.
- Leading and trailing spaces, tabs and newlines are trimmed, then the length limit applies to
  that trimmed value, which is what is stored. Other white space (a no-break space, U+00A0) is
  content (French typography puts it before `:` and `?`), so it is kept and counted. A value
  of white space only does not pass a field that needs text.
- Only strings pass as strings (no number turned into text), as in the JSON schema.

Use as metadata: `title: Annotated[str, Line(200)]`. A refused value is a 422 naming the field
(the services' validation error shape).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

TRIMMED = " \t\n\r"
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
FREE_TEXT_CONTROLS = frozenset("\t\n\r")
MAX_JSON_DEPTH = 8
MAX_EMAIL_LENGTH = 320
# What the OpenAPI says each kind refuses, so that generated clients and fuzzers know: the
# characters below (C0 and C1 controls; for one line also separators and bidi controls), and
# with a minimum length, a value of white space only.
_FREE_TEXT_REFUSED = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_LINE_REFUSED = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"


def _pattern(refused: str, *, blank_allowed: bool) -> str:
    if blank_allowed:
        return f"^[^{refused}]*$"
    return f"^[^{refused}]*[^\\s{refused}][^{refused}]*$"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _bad_character(value: str, *, multiline: bool) -> str | None:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (
            category == "Cc" and not (multiline and char in FREE_TEXT_CONTROLS)
        ):
            return char
        if not multiline and (category in ("Zl", "Zp") or char in BIDI_CONTROLS):
            return char
    return None


def check_characters(value: str, *, multiline: bool = False, where: str = "") -> None:
    """Raises the policy's error for the first control (or, one-line, bidi) character."""
    bad = _bad_character(value, multiline=multiline)
    if bad is not None:
        raise PydanticCustomError(
            "control_character",
            "Must not contain the control or bidi character {character}{where}",
            {"character": f"U+{ord(bad):04X}", "where": where},
        )


def clean(value: str, *, multiline: bool = False) -> str:
    """`value` under the policy: checked, NFC-normalised, trimmed."""
    check_characters(value, multiline=multiline)
    return unicodedata.normalize("NFC", value).strip(TRIMMED)


def _too_long(max_length: int) -> PydanticCustomError:
    # pydantic's own error types for lengths, so clients see one vocabulary.
    return PydanticCustomError(
        "string_too_long",
        "String should have at most {max_length} characters",
        {"max_length": max_length},
    )


def _too_short(min_length: int) -> PydanticCustomError:
    return PydanticCustomError(
        "string_too_short",
        "String should have at least {min_length} non-blank characters",
        {"min_length": min_length},
    )


@dataclass(frozen=True)
class Line:
    """One-line text of `min_length` to `max_length` characters once cleaned."""

    max_length: int
    min_length: int = 1

    multiline = False

    def validate(self, value: str) -> str:
        value = clean(value, multiline=self.multiline)
        if len(value) > self.max_length:
            raise _too_long(self.max_length)
        if len(value) < self.min_length or (self.min_length and value.isspace()):
            raise _too_short(self.min_length)
        return value

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self.validate, core_schema.str_schema(strict=True)
        )

    def __get_pydantic_json_schema__(
        self, _schema: core_schema.CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "pattern": _pattern(
                _FREE_TEXT_REFUSED if self.multiline else _LINE_REFUSED,
                blank_allowed=self.min_length == 0 or isinstance(self, Secret),
            ),
        }


@dataclass(frozen=True)
class Text(Line):
    """Free text (tab and newlines kept): `content: Annotated[str, Text(2000)]`."""

    min_length: int = 0

    multiline = True


@dataclass(frozen=True)
class Secret(Line):
    """A password: checked like one-line text but kept exactly as typed (neither normalised
    nor trimmed), since its hash must match what the user types at login."""

    def validate(self, value: str) -> str:
        check_characters(value)
        if len(value) > self.max_length:
            raise _too_long(self.max_length)
        if len(value) < self.min_length:
            raise _too_short(self.min_length)
        return value


def fold_email(value: str) -> str:
    """The one spelling under which accounts are unique and logins looked up: NFC, trimmed,
    case-folded (so NFC and NFD spellings, `É` and `é`, are one account)."""
    return clean(value).casefold()


def normalise_email(value: str) -> str:
    """`fold_email`, for an address being registered. Refused besides the one-line policy's
    control and bidi characters: compatibility forms (full-width letters, ligatures, `ａ` for
    `a`). An address NFKC would change is refused rather than merged with the one it imitates."""
    cleaned = clean(value)
    if unicodedata.normalize("NFKC", cleaned) != cleaned:
        raise PydanticCustomError(
            "email_compatibility_character",
            "Must not contain full-width or other compatibility characters",
        )
    folded = cleaned.casefold()
    if len(folded) > MAX_EMAIL_LENGTH:
        raise _too_long(MAX_EMAIL_LENGTH)
    if not _EMAIL.match(folded):
        raise PydanticCustomError("email", "Not a valid email address")
    return folded


@dataclass(frozen=True)
class EmailAddress:
    """`email: Annotated[str, EmailAddress()]`: stored and compared as `normalise_email`."""

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            normalise_email, core_schema.str_schema(strict=True)
        )

    def __get_pydantic_json_schema__(
        self, _schema: core_schema.CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "email", "maxLength": MAX_EMAIL_LENGTH}


Email = Annotated[str, EmailAddress()]


def _json_value(value: Any, path: str) -> None:
    if path.count("/") > MAX_JSON_DEPTH:
        raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
    where = f" (at {path})" if path else ""
    if isinstance(value, str):
        check_characters(value, multiline=True, where=where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must not contain NaN or Infinity{where}")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_characters(str(key), where=f" in a key{where}")
            _json_value(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_value(item, f"{path}/{index}")


def check_json(value: Any) -> Any:
    """A JSON document under the policy, unchanged: every key one-line, every string value
    free text, numbers finite, nesting bounded."""
    _json_value(value, "")
    return value


JsonObject = Annotated[dict[str, Any], BeforeValidator(check_json)]
