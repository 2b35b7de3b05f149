"""The Dashboard: the counts of `GET /v1/stats` (one `stats.service.collect` for both), the
most viewed and downloaded papers, interactions per day over 30 days, the outbox backlog."""

from sqladmin import expose
from starlette.requests import Request
from starlette.responses import Response

from catalog_service.admin import charts
from catalog_service.admin.pages import CatalogPage, svg
from catalog_service.stats import service as stats

DAYS = 30


class DashboardPage(CatalogPage):
    name = "Dashboard"
    icon = "fa-solid fa-gauge"

    @expose("/dashboard", methods=["GET"], identity="dashboard")
    async def page(self, request: Request) -> Response:
        async with self.catalog.session() as session:
            figures = await stats.collect(session=session, client=self.catalog.recommender)
        return await self.templates.TemplateResponse(
            request, "console/dashboard.html", {"stats": figures, "days": DAYS, "title": self.name}
        )

    @expose("/dashboard/interactions.svg", methods=["GET"], identity="dashboard-chart")
    async def chart(self, request: Request) -> Response:
        async with self.catalog.session() as session:
            per_day = await stats.interactions_per_day(session=session, days=DAYS)
        return await svg(charts.interactions_per_day, per_day)
