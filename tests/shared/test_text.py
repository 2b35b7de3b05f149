"""The text policy (shared.text): what passes, what it becomes, and what is refused."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.text import Email, JsonObject, Line, Secret, Text


class Sample(BaseModel):
    line: Annotated[str, Line(10)] = "x"
    text: Annotated[str, Text(10, min_length=1)] = "x"
    secret: Annotated[str, Secret(10)] = "x"
    email: Email = "a@b.fr"
    data: JsonObject = {}


def _error(**fields: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        Sample(**fields)
    (error,) = caught.value.errors()
    return ".".join(map(str, error["loc"])), error["type"]


@pytest.mark.parametrize("field", ["line", "text", "secret", "email"])
def test_a_nul_is_refused_in_every_kind_of_text(field: str) -> None:
    assert _error(**{field: "a\x00b@c.fr"}) == (field, "control_character")


@pytest.mark.parametrize("char", ["\x1b", "\x7f", "\x08", "\ud800"])
def test_control_characters_and_lone_surrogates_are_refused_in_free_text(char: str) -> None:
    assert _error(text=f"a{char}b") == ("text", "control_character")


def test_free_text_keeps_tab_and_newlines_where_one_line_text_refuses_them() -> None:
    assert Sample(text="a\tb\r\nc").text == "a\tb\r\nc"
    assert _error(line="a\nb") == ("line", "control_character")
    assert _error(line="a\tb") == ("line", "control_character")


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u2028"])
def test_one_line_text_refuses_bidi_overrides_and_line_separators(char: str) -> None:
    assert _error(line=f"a{char}b") == ("line", "control_character")


def test_the_length_limit_applies_to_the_stored_value() -> None:
    # Spaces and newlines around are trimmed first, then counted.
    assert Sample(text=" \n" + "x" * 10 + "\n ").text == "x" * 10
    # A no-break space is content: kept, so counted.
    assert _error(text="\u00a0" + "x" * 10) == ("text", "string_too_long")
    assert Sample(text="\u00a0" + "x" * 9).text == "\u00a0" + "x" * 9


def test_length_is_counted_after_nfc() -> None:
    decomposed = "e\u0301" * 10  # 20 code points, 10 characters once composed
    assert Sample(line=decomposed).line == "é" * 10


def test_blank_text_does_not_pass_a_field_that_needs_text() -> None:
    assert _error(text="\u00a0 \n") == ("text", "string_too_short")


def test_numbers_do_not_pass_as_text() -> None:
    assert _error(line=12) == ("line", "string_type")


def test_a_secret_is_kept_exactly_as_typed() -> None:
    assert Sample(secret=" e\u0301 ").secret == " e\u0301 "


def test_emails_are_nfc_and_case_folded() -> None:
    assert Sample(email=" Cafe\u0301@X.Fr ").email == "café@x.fr"
    assert Sample(email="CAFÉ@x.fr").email == Sample(email="cafe\u0301@x.fr").email


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("ｃafe@x.fr", "email_compatibility_character"),
        ("ﬁle@x.fr", "email_compatibility_character"),
        ("a\u202eb@x.fr", "control_character"),
        ("a\x00b@x.org", "control_character"),
        ("no-at-sign.fr", "email"),
    ],
)
def test_emails_refuse_compatibility_forms_controls_and_non_addresses(
    email: str, kind: str
) -> None:
    assert _error(email=email) == ("email", kind)


def test_json_keys_and_nested_values_are_checked() -> None:
    assert _error(data={"a": {"b\x00": 1}})[1] == "control_character"
    assert _error(data={"a": [{"b": "c\x00"}]})[1] == "control_character"
    assert Sample(data={"a": {"b": "line\nbreak", "n": [1, 2.5, None, True]}}).data["a"]["n"] == [
        1,
        2.5,
        None,
        True,
    ]


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
def test_json_numbers_must_be_finite(number: float) -> None:
    assert _error(data={"x": number}) == ("data", "value_error")


def test_json_nesting_is_bounded() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["k"] = {}
        node = node["k"]
    assert _error(data=deep) == ("data", "value_error")


@given(st.text(max_size=30))
def test_whatever_passes_a_line_is_nfc_trimmed_and_free_of_controls(value: str) -> None:
    try:
        stored = Sample(line=value).line
    except ValidationError:
        return
    assert stored == unicodedata.normalize("NFC", stored) == stored.strip(" \t\n\r")
    assert 1 <= len(stored) <= 10
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in stored)
