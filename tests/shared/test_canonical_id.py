"""`canonical_id`: the path ids whose cache scope is the route's own, and nothing else."""

from __future__ import annotations

import pytest

from shared.memory_hits import canonical_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1), ("42", 42), ("9223372036854775807", 2**63 - 1)],
)
def test_canonical_ids_are_read(text: str, expected: int) -> None:
    assert canonical_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["0", "007", "+7", "-7", " 7", "7 ", "٧", "1e3", "", "9223372036854775808", "1" * 20],
)
def test_other_spellings_and_ids_beyond_bigint_are_refused(text: str) -> None:
    assert canonical_id(text) is None
