"""The console in a real headless Chromium (Playwright driving Debian's chromium): what a
teacher or an admin does with it, end to end, on the app served by uvicorn over loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from shared.enums import Role
from tests.browser import Tab
from tests.catalog.conftest import DEFAULT_PASSWORD, PDF_BYTES, MakeEpreuve, MakeUser
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    recommender,
    recommender_mode,
    settings_overrides,
)
from tests.recommender.conftest import load_synthetic
from tests.recommender.synthetic import generate

pytestmark = pytest.mark.usefixtures("recommender")


async def _epreuve(session: AsyncSession, title: str) -> Epreuve | None:
    session.expire_all()
    result: Epreuve | None = await session.scalar(select(Epreuve).where(Epreuve.title == title))
    return result


async def test_an_admin_uploads_finds_edits_and_soft_deletes_a_paper(
    tab: Tab,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    admin, _ = await make_user(Role.ADMIN)
    await make_epreuve(title="Partiel d'analyse")  # another paper, that the filter hides
    pdf = tmp_path / "optique-2023.pdf"
    pdf.write_bytes(PDF_BYTES)
    page = tab.page
    await tab.login(admin.email, DEFAULT_PASSWORD)

    await page.click("a.nav-link[href$='/admin/epreuve/list']")
    await page.click("a[href$='/admin/epreuve/create']")
    await page.fill("#title", "Examen d'optique")
    await page.fill("#matiere", "Optique")
    await page.select_option("#filiere", "PHYSIQUE")
    await page.select_option("#niveau", "M1")
    await page.select_option("#type", "EXAMEN")
    await page.fill("#annee", "2023")
    await page.set_input_files("#file", str(pdf))
    await page.click("input[type=submit][value='Save']")
    await page.wait_for_url("**/admin/epreuve/list")
    created = await _epreuve(session, "Examen d'optique")
    assert created is not None
    assert (created.teacher_id, created.file_size, created.is_active) == (
        admin.id,
        len(PDF_BYTES),
        True,
    )

    # Found with the Filière filter: only it is listed.
    await page.click("a[href*='filiere=PHYSIQUE']")
    rows = page.locator("table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Examen d'optique")

    await rows.first.locator("a[href*='/admin/epreuve/edit/']").click()
    await page.fill("#title", "Examen d'optique ondulatoire")
    await page.click("input[type=submit][value='Save']")
    await page.wait_for_url("**/admin/epreuve/list**")
    assert await _epreuve(session, "Examen d'optique") is None
    edited = await _epreuve(session, "Examen d'optique ondulatoire")
    assert edited is not None and edited.id == created.id

    await page.locator("table tbody tr", has_text="ondulatoire").locator(".select-box").check()
    await page.click("#dropdownMenuButton")
    await page.click("#action-customconfirm-soft-delete")
    await page.click("#action-custom-modal-soft-delete")
    await expect(page.locator(".toast-body")).to_contain_text("1 épreuve(s) soft-deleted")
    deleted = await _epreuve(session, "Examen d'optique ondulatoire")
    assert deleted is not None and deleted.is_active is False
    assert tab.problems == []


async def test_a_teacher_cannot_edit_another_teachers_paper(
    tab: Tab, session: AsyncSession, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    from playwright.async_api import expect

    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    own = await make_epreuve(teacher=teacher, title="Mon partiel")
    others = await make_epreuve(title="Le partiel d'un collègue")
    page = tab.page
    await tab.login(teacher.email, DEFAULT_PASSWORD)
    await page.click("a.nav-link[href$='/admin/epreuve/list']")
    mine = page.locator("table tbody tr", has_text="Mon partiel")
    theirs = page.locator("table tbody tr", has_text="Le partiel d'un collègue")
    await expect(mine.locator(f"a[href$='/admin/epreuve/edit/{own.id}']")).to_have_count(1)
    await expect(theirs.locator("a[href*='/admin/epreuve/edit/']")).to_have_count(0)
    # Nor by typing the address.
    response = await page.goto(f"{tab.base_url}/admin/epreuve/edit/{others.id}")
    assert response is not None and response.status == 403
    await expect(page.locator(".empty-header")).to_have_text("403")
    # The menu offers the catalogue and the dashboard, nothing of the admins'.
    await tab.goto("/admin/dashboard")
    menu = await page.locator("#navbar-menu a.nav-link").all_inner_texts()
    assert [m.strip() for m in menu] == ["Dashboard", "Épreuves"]
    row = await session.get(Epreuve, others.id)
    assert row is not None and row.title == "Le partiel d'un collègue"
    assert [p for p in tab.problems if "status of 403" not in p] == []


async def test_train_now_adds_a_version_and_activate_switches_to_another(
    tab: Tab,
    make_user: MakeUser,
    recommender: Any,  # noqa: F811 (the fixture)
) -> None:
    from playwright.async_api import expect

    await load_synthetic(recommender.state.sessionmaker, generate(30, 20, 600, seed=1))
    admin, _ = await make_user(Role.ADMIN)
    page = tab.page
    await tab.login(admin.email, DEFAULT_PASSWORD)
    await page.click("a.nav-link[href$='/admin/recommender']")
    await expect(page.locator("#versions tbody")).to_contain_text("No version yet")
    await _train(page, run=1)
    await _wait_finished(page, version=1)
    await expect(page.locator("tr[data-version='1']")).to_have_attribute("data-status", "active")
    await expect(page.locator("#active-version")).to_have_text("1")
    await expect(page.locator("#training-curve")).to_be_visible()
    curve = await page.evaluate("document.getElementById('training-curve').naturalWidth")
    assert curve > 0  # the SVG chart loaded

    # A second run: whichever of the two is not active then (ready, or archived if the new
    # one replaced it) is activated by its button.
    await _train(page, run=2)
    await _wait_finished(page, version=2)
    inactive = page.locator("tr[data-version]", has=page.locator("button", has_text="Activate"))
    await expect(inactive).to_have_count(1)
    version = await inactive.get_attribute("data-version")
    await inactive.locator("button", has_text="Activate this version").click()
    await expect(page.locator(".toast-body")).to_contain_text(
        f"Version {version} is now the active"
    )
    await expect(page.locator("#active-version")).to_have_text(str(version))
    assert tab.problems == []


async def _train(page: Any, *, run: int) -> None:
    from playwright.async_api import expect

    await page.select_option("#train-model", "gmf")
    await page.fill("#train-epochs", "2")
    await page.click("#train-now")
    await expect(page.locator(".toast-body")).to_contain_text(f"Training run {run} started")


async def _wait_finished(page: Any, *, version: int) -> None:
    """The page refreshes itself while a run lasts; reloaded here too should it be done. A
    reload or a count can meet the page's own refresh navigating: then look again."""
    from playwright.async_api import Error as PlaywrightError

    running = page.locator(f"tr[data-version='{version}'][data-status='training']")
    listed = page.locator(f"tr[data-version='{version}']")
    async with asyncio.timeout(180):
        while True:
            try:
                if await listed.count() and not await running.count():
                    return
                await asyncio.sleep(1)
                if not await page.locator("#training-in-progress").count():
                    await page.reload()
            except PlaywrightError:
                await asyncio.sleep(1)
