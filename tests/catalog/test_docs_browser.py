"""`/docs` of both services in a real headless Chromium with every request off the machine
refused: Swagger UI renders from the services' own assets, within their strict CSP, and the
catalog's logs in through *Authorize* (OAuth2 password flow) and runs a call."""

from __future__ import annotations

from typing import Any

from shared.enums import Role
from tests.browser import Tab, open_tab
from tests.catalog.conftest import DEFAULT_PASSWORD, MakeUser
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    recommender,
    recommender_mode,
    settings_overrides,
)


async def test_catalog_docs_log_in_through_authorize_and_run_a_call(
    tab: Tab, make_user: MakeUser
) -> None:
    from playwright.async_api import expect

    user, _ = await make_user(Role.STUDENT, email="awa.diop@univ.example")
    page = tab.page
    await tab.goto("/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("catalog")
    await page.click("button.authorize")
    await page.fill("#oauth_username", user.email)
    await page.fill("#oauth_password", DEFAULT_PASSWORD)
    await page.click(".auth-container button.authorize")
    await expect(page.locator(".auth-container")).to_contain_text("Authorized")
    await page.click("button.btn-done")

    operation = page.locator(".opblock-get", has=page.locator("[data-path='/v1/users/me']"))
    await operation.locator(".opblock-summary").click()
    await operation.locator(".try-out__btn").click()
    await operation.locator(".execute").click()
    response = operation.locator(".live-responses-table .response").first
    await expect(response.locator(".response-col_status")).to_have_text("200")
    await expect(response.locator(".response-col_description")).to_contain_text(
        '"email": "awa.diop@univ.example"'
    )
    assert tab.problems == []


async def test_recommender_docs_render_offline(
    chromium: Any,
    recommender: Any,  # noqa: F811 (the fixture: the real recommender on uvicorn)
) -> None:
    from playwright.async_api import expect

    async with open_tab(chromium, recommender.url) as tab:
        await tab.goto("/docs")
        await expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("recommender")
        await expect(tab.page.locator("[data-path='/v1/models/train']")).to_have_count(1)
        await expect(tab.page.locator("button.authorize")).to_be_visible()
        assert tab.problems == []
