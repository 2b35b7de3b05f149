"""CSRF protection of the console: a per-session secret token on every change.

A request that changes state (any method but GET/HEAD/OPTIONS, and sqladmin's custom actions,
which are GET links) must present the session's token: in the `X-CSRF-Token` header (AJAX),
the `csrf_token` query parameter (action links) or the `csrf_token` form field (forms). Pages
carry the token in a meta tag; console.js adds it to forms, AJAX calls and action links.
"""

import hmac
import re
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

FIELD = "csrf_token"
HEADER = "x-csrf-token"
_SESSION_KEY = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# sqladmin routes its custom actions as GET /{identity}/action/{slug}.
_ACTION_PATH = re.compile(r"/[^/]+/action/[^/]+/?$")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def token(request: Request) -> str:
    """The session's token, created on first use (the login page's anonymous session too)."""
    value = request.session.get(_SESSION_KEY)
    if not isinstance(value, str):
        value = request.session[_SESSION_KEY] = secrets.token_urlsafe(32)
    return value


def rotate(request: Request) -> None:
    """A new token, for a new session (after login), so a token seen before login is useless."""
    request.session[_SESSION_KEY] = secrets.token_urlsafe(32)


def changes_state(request: Request) -> bool:
    return request.method not in _SAFE_METHODS or bool(_ACTION_PATH.search(request.url.path))


async def _presented(request: Request) -> str | None:
    given = request.headers.get(HEADER) or request.query_params.get(FIELD)
    if given:
        return given
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette caches the parsed form on the request: the endpoint reads the same one.
        form: FormData = await request.form()
        value = form.get(FIELD)
        return value if isinstance(value, str) else None
    return None


async def is_valid(request: Request) -> bool:
    expected = request.session.get(_SESSION_KEY)
    given = await _presented(request)
    if not isinstance(expected, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
