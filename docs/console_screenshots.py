"""Screenshots of every page of the admin console, into docs/img/admin-*.png (linked from the
README), taken in headless Chromium with every request off the machine refused.

    make run   # in another terminal (DATA_DIR, CATALOG_PORT as you like)
    .venv/bin/python docs/console_screenshots.py --url http://127.0.0.1:8000

Signs in as the demo admin and the demo teacher (`make run` seeds them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import chromium_executable, launch, open_tab

OUT = Path(__file__).parent / "img"
DEMO_PASSWORD = "demo-imsp-2025"  # noqa: S105 (the public demo credential)
VIEWPORT = {"width": 1920, "height": 1000}
ADMIN_PAGES = {
    "dashboard": "/admin/dashboard",
    "epreuves": "/admin/epreuve/list",
    "epreuves-filtered": "/admin/epreuve/list?filiere=MATH&niveau=L2&sortBy=downloads&sort=desc",
    "epreuve-create": "/admin/epreuve/create",
    "users": "/admin/user/list",
    "comments": "/admin/comment/list",
    "evaluations": "/admin/evaluation/list",
    "interactions": "/admin/interaction/list",
    "recommender": "/admin/recommender",
}


async def shoot(url: str, admin: str, teacher: str) -> list[Path]:
    executable = chromium_executable()
    if executable is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    async def save(page: Any, name: str) -> None:
        path = OUT / f"admin-{name}.png"
        # The viewport stretched to the page: the fixed sidebar then spans it all.
        height = await page.evaluate("document.documentElement.scrollHeight")
        await page.set_viewport_size({**VIEWPORT, "height": max(VIEWPORT["height"], height)})
        await page.screenshot(path=str(path))
        await page.set_viewport_size(VIEWPORT)
        written.append(path)
        print(f"{path.relative_to(OUT.parent.parent)}", flush=True)

    async with launch(executable) as browser:
        async with open_tab(browser, url, viewport=VIEWPORT) as tab:
            await tab.goto("/admin/login")
            await save(tab.page, "login")
            await tab.login(admin, DEMO_PASSWORD)
            for name, path in ADMIN_PAGES.items():
                await tab.goto(path)
                await tab.page.wait_for_load_state("networkidle")
                await save(tab.page, name)
            first_edit = tab.page.locator("a[href*='/admin/epreuve/edit/']").first
            await tab.goto("/admin/epreuve/list")
            await first_edit.click()
            await save(tab.page, "epreuve-edit")
            problems = list(tab.problems)
        async with open_tab(browser, url, viewport=VIEWPORT) as tab:
            await tab.login(teacher, DEMO_PASSWORD)
            await tab.goto("/admin/epreuve/list")
            await save(tab.page, "teacher-epreuves")
            problems += tab.problems
    if problems:
        raise SystemExit("the pages were not clean:\n" + "\n".join(problems))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the catalog")
    parser.add_argument("--admin", default="admin@demo.imsp.fr")
    parser.add_argument("--teacher", default="prof@demo.imsp.fr")
    args = parser.parse_args()
    asyncio.run(shoot(args.url, args.admin, args.teacher))


if __name__ == "__main__":
    main()
