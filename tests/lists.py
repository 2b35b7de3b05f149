"""Comparing recommendation answers: each serving of a list has its own `recommendation_id`."""

from __future__ import annotations

from typing import Any

import httpx


def same_list(a: httpx.Response | dict[str, Any], b: httpx.Response | dict[str, Any]) -> bool:
    """The same answer served twice: equal but for their ids, which differ."""
    first = dict(a.json() if isinstance(a, httpx.Response) else a)
    second = dict(b.json() if isinstance(b, httpx.Response) else b)
    ids = first.pop("recommendation_id"), second.pop("recommendation_id")
    return first == second and ids[0] != ids[1]
