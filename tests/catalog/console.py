"""Driving the admin console over HTTP as a browser would (cookies, CSRF token, forms)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.catalog.conftest import DEFAULT_PASSWORD

_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_token(page: httpx.Response) -> str:
    match = _TOKEN.search(page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    """Signs in through /admin/login; the client keeps the session cookie."""
    form = await client.get("/admin/login")
    return await client.post(
        "/admin/login",
        data={"username": email, "password": password, "csrf_token": csrf_token(form)},
    )


async def token(client: httpx.AsyncClient) -> str:
    """The signed-in session's CSRF token, as its pages carry it."""
    return csrf_token(await client.get("/admin/epreuve/list"))


def epreuve_form(**fields: Any) -> dict[str, Any]:
    values = {
        "title": "Partiel d'analyse",
        "matiere": "Analyse",
        "filiere": "MATH",
        "niveau": "L2",
        "type": "PARTIEL",
        "annee": "2024",
        "description": "",
        "save": "Save",
    }
    values.update(fields)
    return values
