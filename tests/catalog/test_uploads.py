"""PDF uploads (checked by content, size-limited, atomic) and downloads (headers, DOWNLOAD)."""

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfWriter
from sqlalchemy import select, update

from catalog_service.epreuves import storage
from catalog_service.epreuves.models import Epreuve
from catalog_service.interactions.models import Interaction
from shared.enums import Role
from tests.catalog.conftest import PDF_BYTES, one_page_pdf

FORM = {
    "title": "Partiel de mécanique",
    "matiere": "Mécanique",
    "filiere": "PHYSIQUE",
    "niveau": "L2",
    "type": "PARTIEL",
    "annee": "2024",
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_upload_mb": 1}


def _pdf_of_size(size: int) -> bytes:
    """A valid one-page PDF of exactly `size` bytes (its padding's digits shift the offsets)."""
    padding = 1
    for _ in range(5):
        content = one_page_pdf(padding=padding)
        if len(content) == size:
            return content
        padding += size - len(content)
    raise AssertionError("no PDF of that size")


def _stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def _post(client: httpx.AsyncClient, headers: dict, content: bytes, name: str = "s.pdf"):
    files = {"file": (name, content, "application/pdf")}
    return await client.post("/v1/epreuves", data=FORM, files=files, headers=headers)


async def test_pdf_named_txt_is_accepted_because_content_decides(
    client: httpx.AsyncClient, make_user, pdf_bytes, settings
) -> None:
    _, headers = await make_user(Role.TEACHER)
    response = await _post(client, headers, pdf_bytes, name="notes.txt")
    assert response.status_code == 201
    [stored] = _stored_files(settings.uploads_path)
    assert stored.read_bytes() == pdf_bytes
    assert stored.suffix == ".pdf"


async def test_non_pdf_named_pdf_is_415_and_leaves_no_file(
    client: httpx.AsyncClient, make_user, settings
) -> None:
    _, headers = await make_user(Role.TEACHER)
    response = await _post(client, headers, b"MZ\x90\x00 an executable, not a PDF")
    assert response.status_code == 415
    assert response.json()["code"] == "not_a_pdf"
    assert _stored_files(settings.uploads_path) == []


def _zero_pages() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(PDF_BYTES))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n", id="html"),
        pytest.param(_zero_pages(), id="zero-pages"),
        pytest.param(PDF_BYTES[: len(PDF_BYTES) // 2], id="cut-in-half"),
        pytest.param(PDF_BYTES.replace(b"%%EOF", b""), id="no-eof"),
        pytest.param(b"%PDF-1.7\n%%EOF\n", id="header-only"),
        pytest.param(_encrypted("needs-a-password"), id="password-protected"),
    ],
)
async def test_what_does_not_parse_as_a_pdf_with_a_page_is_415_and_leaves_no_file(
    client: httpx.AsyncClient, make_user, settings, session, content: bytes
) -> None:
    _, headers = await make_user(Role.TEACHER)
    response = await _post(client, headers, content)
    assert response.status_code == 415
    assert response.json()["code"] == "not_a_pdf"
    assert _stored_files(settings.uploads_path) == []
    assert (await session.scalars(select(Epreuve))).all() == []


async def test_a_pdf_anyone_may_open_is_accepted_though_encrypted(
    client: httpx.AsyncClient, make_user
) -> None:
    _, headers = await make_user(Role.TEACHER)
    assert (await _post(client, headers, _encrypted(""))).status_code == 201


async def test_file_over_the_limit_is_413_and_leaves_no_file(
    client: httpx.AsyncClient, make_user, pdf_bytes, settings, session
) -> None:
    _, headers = await make_user(Role.TEACHER)
    big = one_page_pdf(padding=1024 * 1024)
    response = await _post(client, headers, big)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert _stored_files(settings.uploads_path) == []
    assert (await session.scalars(select(Epreuve))).all() == []


async def test_body_announced_over_the_limit_is_413_before_reading(
    client: httpx.AsyncClient, make_user
) -> None:
    _, headers = await make_user(Role.TEACHER)
    response = await client.post(
        "/v1/epreuves",
        content=b"x",
        headers={**headers, "Content-Length": str(50 * 1024 * 1024), "Content-Type": "text/plain"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


async def test_file_at_the_limit_is_accepted(
    client: httpx.AsyncClient, make_user, pdf_bytes
) -> None:
    _, headers = await make_user(Role.TEACHER)
    exact = _pdf_of_size(1024 * 1024)
    assert len(exact) == 1024 * 1024
    assert (await _post(client, headers, exact)).status_code == 201


async def test_download_streams_the_pdf_with_headers_and_records_download(
    client: httpx.AsyncClient, make_user, make_epreuve, pdf_bytes, session
) -> None:
    epreuve = await make_epreuve(title="Partiel")
    user, headers = await make_user()
    response = await client.get(f"/v1/epreuves/{epreuve.id}/file", headers=headers)
    assert response.status_code == 200
    assert response.content == pdf_bytes
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(pdf_bytes))
    assert response.headers["etag"] == f'"{hashlib.sha256(pdf_bytes).hexdigest()}"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"sujet.pdf\"; filename*=UTF-8''sujet.pdf"
    )
    row = await session.scalar(select(Epreuve.downloads).where(Epreuve.id == epreuve.id))
    assert row == 1
    kinds = (
        await session.scalars(select(Interaction.kind).where(Interaction.user_id == user.id))
    ).all()
    assert kinds == ["DOWNLOAD"]


async def test_accented_filename_gets_rfc5987_disposition(
    client: httpx.AsyncClient, make_user, pdf_bytes
) -> None:
    _, headers = await make_user(Role.TEACHER)
    created = await _post(client, headers, pdf_bytes, name="../../Épreuve: finale?.pdf")
    url = f"/v1/epreuves/{created.json()['id']}/file"
    response = await client.get(url, headers=headers)
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Epreuve_ finale.pdf\"; filename*=UTF-8''%C3%89preuve_%20finale.pdf"
    )


async def test_download_of_unknown_epreuve_is_404(client: httpx.AsyncClient, make_user) -> None:
    _, headers = await make_user()
    assert (await client.get("/v1/epreuves/404/file", headers=headers)).status_code == 404


async def test_download_of_epreuve_without_file_is_404_and_counts_nothing(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    await session.execute(update(Epreuve).where(Epreuve.id == epreuve.id).values(file_path=None))
    await session.commit()
    _, headers = await make_user()
    response = await client.get(f"/v1/epreuves/{epreuve.id}/file", headers=headers)
    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"
    assert await session.scalar(select(Epreuve.downloads).where(Epreuve.id == epreuve.id)) == 0


async def test_download_requires_a_token(client: httpx.AsyncClient, make_epreuve) -> None:
    epreuve = await make_epreuve()
    assert (await client.get(f"/v1/epreuves/{epreuve.id}/file")).status_code == 401


async def test_owner_replaces_the_file_and_the_old_one_is_removed(
    client: httpx.AsyncClient, make_user, make_epreuve, pdf_bytes, settings
) -> None:
    teacher, headers = await make_user(Role.TEACHER)
    epreuve = await make_epreuve(teacher=teacher)
    [old] = _stored_files(settings.uploads_path)
    newer = one_page_pdf(width=842)  # landscape
    files = {"file": ("v2.pdf", newer, "application/pdf")}
    response = await client.put(f"/v1/epreuves/{epreuve.id}/file", files=files, headers=headers)
    assert response.status_code == 200
    [current] = _stored_files(settings.uploads_path)
    assert current != old
    assert current.read_bytes() == newer
    download = await client.get(f"/v1/epreuves/{epreuve.id}/file", headers=headers)
    assert download.content == newer


async def test_other_teacher_cannot_replace_the_file(
    client: httpx.AsyncClient, make_user, make_epreuve, pdf_bytes
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user(Role.TEACHER)
    files = {"file": ("v2.pdf", pdf_bytes, "application/pdf")}
    response = await client.put(f"/v1/epreuves/{epreuve.id}/file", files=files, headers=headers)
    assert response.status_code == 403


def test_stored_paths_cannot_escape_the_upload_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        storage.resolve(tmp_path, "../../etc/passwd")
