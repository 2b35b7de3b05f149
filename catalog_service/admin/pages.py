"""What the console's own pages (beside sqladmin's model pages) share."""

from collections.abc import Callable
from typing import Any

from sqladmin import BaseView
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from catalog_service.admin.context import Catalog


class CatalogPage(BaseView):
    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self._admin_ref.catalog  # type: ignore[attr-defined]
        return catalog


async def svg(render: Callable[..., bytes], *args: Any) -> Response:
    """Draws a chart in a worker thread (matplotlib is CPU-bound); never cached, as it is
    drawn from live numbers."""
    body = await run_in_threadpool(render, *args)
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
