"""Real headless Chromium for the browser tests (and docs/console_screenshots.py).

`launch()` starts Debian's chromium through Playwright (which cannot download a browser here);
`open_tab()` opens a fresh context on a served app where requests leaving the machine are
refused and recorded, and so are Content-Security-Policy violations and script errors, so a
test can assert that the page worked offline and within its policy."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Playwright's own waits, generous for a loaded 2-core CI.
TIMEOUT_MS = 30_000
# What works as root in a container; Playwright adds --headless and a fresh --user-data-dir.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_executable() -> str | None:
    """$CHROMIUM, or Debian's `chromium` on the PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


@contextlib.asynccontextmanager
async def launch(executable: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)  # its own default is 5 s, short on a loaded CI
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Tab:
    page: Any  # playwright.async_api.Page
    base_url: str
    problems: list[str] = field(default_factory=list)

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def login(self, email: str, password: str) -> None:
        await self.goto("/admin/login")
        await self.page.fill("#username", email)
        await self.page.fill("#password", password)
        await self.page.click("button[type=submit]")
        await self.page.wait_for_url("**/admin/dashboard")


@contextlib.asynccontextmanager
async def open_tab(browser: Any, base_url: str, **context_options: Any) -> AsyncIterator[Tab]:
    context = await browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    tab = Tab(page=page, base_url=base_url)
    local = urlsplit(base_url).hostname

    async def only_local(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in (local, "127.0.0.1"):
            await route.continue_()
        else:
            tab.problems.append(f"external request: {route.request.url}")
            await route.abort()

    def on_console(message: Any) -> None:
        if message.type == "error":
            tab.problems.append(f"console: {message.text}")

    await context.route("**/*", only_local)
    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.problems.append(f"script error: {error}"))
    try:
        yield tab
    finally:
        await context.close()
