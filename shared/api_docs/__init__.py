"""`/docs` that renders with no internet access and under a strict Content-Security-Policy.

FastAPI's default page loads Swagger UI from a public CDN and starts it with an inline script.
Here the assets come from the `fastapi-offline` package (a maintained bundle of Swagger UI 5,
which reads the OpenAPI 3.1 documents FastAPI writes) and the page is started by a script file
of ours, so the policy can forbid inline code and every other origin.
"""

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
STATIC_PATH = "/docs/static"
# Swagger UI sets styles through the DOM (allowed) and draws its icons from data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_OWN_STATIC = Path(__file__).parent / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" href="{static}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serves `/docs` and its assets; `app` is created with `docs_url=None, redoc_url=None`."""
    if app.docs_url is not None:
        raise ValueError("create the app with docs_url=None: this module serves /docs")
    static = StaticFiles(directory=_OWN_STATIC, packages=[("fastapi_offline", "static")])
    app.mount(STATIC_PATH, static, name="docs-static")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = _PAGE.format(
            title=escape(f"{app.title} - API docs"),
            static=escape(f"{root}{STATIC_PATH}"),
            openapi=escape(f"{root}{app.openapi_url}"),
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})
