"""The Dashboard: the counts of `GET /v1/stats` (one `stats.service.collect` for both), the
most viewed and downloaded papers, interactions per day over 30 days, the outbox backlog, and
what the recommendation lists shown earned (`GET /v1/stats/recommendations`'s `online`)."""

from datetime import UTC, datetime, timedelta

from sqladmin import expose
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from catalog_service.admin import charts
from catalog_service.admin.pages import CatalogPage, svg
from catalog_service.stats import online
from catalog_service.stats import service as stats
from catalog_service.stats.schemas import RecommendationStats

DAYS = 30
ONLINE_DAYS = 14


class DashboardPage(CatalogPage):
    name = "Dashboard"
    icon = "fa-solid fa-gauge"

    @expose("/dashboard", methods=["GET"], identity="dashboard")
    async def page(self, request: Request) -> Response:
        async with self.catalog.session() as session:
            figures = await stats.collect(session=session, client=self.catalog.recommender)
            shown = await self._online(session)
        context = {"stats": figures, "days": DAYS, "title": self.name, "online": shown,
                   "online_days": ONLINE_DAYS, "label": charts.group_label}  # fmt: skip
        return await self.templates.TemplateResponse(request, "console/dashboard.html", context)

    @expose("/dashboard/interactions.svg", methods=["GET"], identity="dashboard-chart")
    async def chart(self, request: Request) -> Response:
        async with self.catalog.session() as session:
            per_day = await stats.interactions_per_day(session=session, days=DAYS)
        return await svg(charts.interactions_per_day, per_day)

    @expose("/dashboard/online.svg", methods=["GET"], identity="dashboard-online")
    async def online_chart(self, request: Request) -> Response:
        async with self.catalog.session() as session:
            shown = await self._online(session)
        today = shown.until.date()
        days = [today - timedelta(days=n) for n in range(ONLINE_DAYS - 1, -1, -1)]
        return await svg(charts.online_ctr, shown.daily, days)

    async def _online(self, session: AsyncSession) -> RecommendationStats:
        window = timedelta(minutes=self.catalog.settings.attribution_window_minutes)
        return await online.recommendation_stats(
            session=session, days=ONLINE_DAYS, window=window, now=datetime.now(UTC)
        )
