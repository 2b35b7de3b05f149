"""Authentication rate limits on a real socket: per account from any IP, per IP on any account,
and forwarded headers believed only from the proxies FORWARDED_ALLOW_IPS names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from catalog_service.__main__ import proxy_options
from catalog_service.config import Settings
from catalog_service.main import create_app
from tests.catalog.conftest import DEFAULT_PASSWORD
from tests.e2e.servers import serve


@asynccontextmanager
async def _catalog(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The catalog behind uvicorn on loopback, with the proxy options `serve` would use."""
    configured = settings.model_copy(update=overrides)
    app = create_app(configured)
    async with (
        serve(app, **proxy_options(configured)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        yield http


async def _login(
    http: httpx.AsyncClient, email: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = {"username": email, "password": password}
    return await http.post("/v1/auth/token", data=form, headers=headers)


def _assert_limited(response: httpx.Response, window_s: int) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= window_s


async def test_a_new_x_forwarded_for_on_each_guess_does_not_reset_the_limit(
    settings: Settings, make_user
) -> None:
    """The issue's attack, with the defaults: 10 attempts per account per minute."""
    await make_user(email="ines@univ.example")
    async with _catalog(settings) as http:
        guesses = [
            await _login(http, "ines@univ.example", f"guess-{n}", f"203.0.113.{n}")
            for n in range(15)
        ]
        assert [r.status_code for r in guesses] == [401] * 10 + [429] * 5
        for response in guesses[10:]:
            _assert_limited(response, settings.auth_rate_window_s)
        right = await _login(http, "ines@univ.example", DEFAULT_PASSWORD, "198.51.100.7")
        _assert_limited(right, settings.auth_rate_window_s)


async def test_an_untrusted_peer_cannot_choose_the_ip_it_is_counted_as(
    settings: Settings, make_user
) -> None:
    async with _catalog(settings, auth_rate_limit_ip=3) as http:
        statuses = [
            (await _login(http, f"user{n}@univ.example", "guess", f"203.0.113.{n}")).status_code
            for n in range(5)
        ]
    assert statuses == [401, 401, 401, 429, 429]  # all counted as 127.0.0.1


async def test_one_ip_trying_many_accounts_is_limited_behind_a_trusted_proxy(
    settings: Settings, make_user
) -> None:
    trusted = {"forwarded_allow_ips": "127.0.0.1", "auth_rate_limit_ip": 3}
    async with _catalog(settings, **trusted) as http:
        one_ip = [
            (await _login(http, f"user{n}@univ.example", "guess", "203.0.113.9")).status_code
            for n in range(5)
        ]
        # The proxy's other clients are other IPs: not limited by that one's attempts.
        other = await _login(http, "user9@univ.example", "guess", "203.0.113.10")
    assert one_ip == [401, 401, 401, 429, 429]
    assert other.status_code == 401


async def test_many_ips_on_one_account_are_limited_behind_a_trusted_proxy(
    settings: Settings, make_user
) -> None:
    await make_user(email="zoe@univ.example")
    trusted = {"forwarded_allow_ips": "127.0.0.1", "auth_rate_limit_account": 4}
    async with _catalog(settings, **trusted) as http:
        statuses = [
            (await _login(http, "zoe@univ.example", "guess", f"198.51.100.{n}")).status_code
            for n in range(6)
        ]
        right = await _login(http, "ZOE@univ.example", DEFAULT_PASSWORD, "198.51.100.200")
        other_account = await _login(http, "max@univ.example", "guess", "198.51.100.201")
    assert statuses == [401, 401, 401, 401, 429, 429]
    _assert_limited(right, settings.auth_rate_window_s)  # any spelling of the same account
    assert other_account.status_code == 401


@pytest.mark.parametrize("budget", ["auth_rate_limit_account", "auth_rate_limit_ip"])
async def test_registration_is_limited_per_account_and_per_ip(
    settings: Settings, budget: str
) -> None:
    body = {
        "password": "correct horse battery",
        "full_name": "Awa Diop",
        "niveau": "L2",
        "filiere": "MATH",
    }
    async with _catalog(settings, **{budget: 2}) as http:
        statuses = []
        for n in range(3):
            email = "awa@univ.example" if budget == "auth_rate_limit_account" else f"a{n}@x.org"
            response = await http.post("/v1/auth/register", json={**body, "email": email})
            statuses.append(response.status_code)
        _assert_limited(response, settings.auth_rate_window_s)
    same_account = budget == "auth_rate_limit_account"
    assert statuses == ([201, 409, 429] if same_account else [201, 201, 429])


def test_serve_trusts_forwarded_headers_only_from_named_proxies() -> None:
    none = Settings(jwt_secret="x" * 32, forwarded_allow_ips="")
    named = Settings(jwt_secret="x" * 32, forwarded_allow_ips="10.0.0.2, 10.0.1.0/24")
    assert proxy_options(none) == {"proxy_headers": False, "forwarded_allow_ips": None}
    assert proxy_options(named) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.2, 10.0.1.0/24",
    }
