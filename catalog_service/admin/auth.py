"""Who may use the console: login with a catalog account, a signed session cookie, logout.

The session cookie is Starlette's (signed with itsdangerous, HttpOnly, SameSite=Lax, limited
to /admin), marked Secure when the request came over HTTPS. It holds the user id and the CSRF
token only; the user is read again on every request, so a deactivated or demoted account is
shut out at once. Students are refused with a 403 page.
"""

import hashlib
import hmac
from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqladmin.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog_service.admin import csrf
from catalog_service.admin.context import Catalog
from catalog_service.auth import rate_limit
from catalog_service.config import Settings
from catalog_service.errors import RateLimited
from catalog_service.users import service as users
from catalog_service.users.models import User
from shared.enums import Role

SESSION_COOKIE = "catalog_console"
_USER_KEY = "user_id"
_STATE_USER = "console_user"
# The API's login endpoint counts attempts under the same scope: one budget for both doors.
RATE_SCOPE = "token"
STAFF = (Role.TEACHER, Role.ADMIN)


def session_secret(settings: Settings) -> str:
    """SESSION_SECRET, or a key derived from JWT_SECRET (never the JWT key itself)."""
    if settings.session_secret is not None and settings.session_secret.get_secret_value():
        return settings.session_secret.get_secret_value()
    if settings.jwt_secret is None or not settings.jwt_secret.get_secret_value():
        raise RuntimeError("SESSION_SECRET or JWT_SECRET must be set to sign console sessions")
    key = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(key, b"catalog console session", hashlib.sha256).hexdigest()


class SchemeSessionMiddleware:
    """Starlette's sessions, with the Secure flag when the request came over HTTPS (directly,
    or through a proxy whose X-Forwarded-Proto uvicorn trusts)."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self._plain = SessionMiddleware(app, https_only=False, **options)
        self._secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = self._secure if scope.get("scheme") in ("https", "wss") else self._plain
        await session(scope, receive, send)


def current_user(request: Request) -> User:
    """The signed-in user of this request (set by `ConsoleAuth.authenticate`)."""
    user: User | None = getattr(request.state, _STATE_USER, None)
    if user is None:
        raise HTTPException(status_code=401, detail="Not signed in")
    return user


def maybe_user(request: Request) -> User | None:
    user: User | None = getattr(request.state, _STATE_USER, None)
    return user


def _refuse_students(user: User) -> None:
    if user.role not in STAFF:
        raise HTTPException(
            status_code=403, detail="The console is for teachers and admins; students use the app."
        )


async def _require_csrf(request: Request) -> None:
    if not await csrf.is_valid(request):
        raise HTTPException(
            status_code=403, detail="The form has expired or did not come from this console: "
            "reload the page and try again.",
        )  # fmt: skip


class ConsoleAuth(AuthenticationBackend):
    def __init__(self, catalog: Catalog) -> None:
        settings = catalog.settings
        self.catalog = catalog
        self.templates: Jinja2Templates | None = None  # the console's, set once it is built
        self.middlewares = [
            Middleware(
                SchemeSessionMiddleware,
                secret_key=session_secret(settings),
                session_cookie=SESSION_COOKIE,
                max_age=settings.admin_session_hours * 3600,
                path="/admin",
                same_site="lax",
            )
        ]

    async def login(self, request: Request) -> Response | bool:
        await _require_csrf(request)
        form = await request.form()
        email, password = str(form.get("username", "")), str(form.get("password", ""))
        settings = self.catalog.settings
        try:
            await rate_limit.hit(
                redis=self.catalog.redis,
                scope=RATE_SCOPE,
                budgets=rate_limit.login_budgets(
                    settings, host=request.client.host if request.client else None, account=email
                ),
                window_s=settings.auth_rate_window_s,
            )
        except RateLimited as exc:
            return await self._login_page(request, exc.message, status_code=429)
        async with self.catalog.session() as session:
            user = await users.authenticate(session=session, email=email, password=password)
        if user is None:
            return False
        _refuse_students(user)
        # A fresh session: nothing from before the login (fixation) carries over.
        request.session.clear()
        request.session[_USER_KEY] = user.id
        csrf.rotate(request)
        return True

    async def logout(self, request: Request) -> Response | bool:
        await _require_csrf(request)
        request.session.clear()
        return False  # sqladmin then sends the browser to the login page

    async def authenticate(self, request: Request) -> Response | bool:
        user_id = request.session.get(_USER_KEY)
        if not isinstance(user_id, int):
            return False
        async with self.catalog.session() as session:
            user = await session.get(User, user_id)
        if user is None or not user.is_active:
            request.session.clear()
            return False
        _refuse_students(user)
        if csrf.changes_state(request):
            await _require_csrf(request)
        setattr(request.state, _STATE_USER, user)
        return True

    async def _login_page(self, request: Request, error: str, *, status_code: int) -> Response:
        assert self.templates is not None
        return await self.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": error}, status_code=status_code
        )
