"""PDF files on disk under UPLOAD_DIR: parsed as PDFs, size-limited, written atomically.

A file is kept only when pypdf parses it as a PDF with at least one page: a prefix and a suffix
check let `%PDF-1.4 <html><script>…</html> %%EOF` through, and a browser may sniff such a file
as HTML. The parse runs in a worker thread (with the copy), after the size limit, so the event
loop never waits on it and it never reads more than MAX_UPLOAD_MB.
"""

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from pypdf import PdfReader
from starlette.concurrency import run_in_threadpool

from catalog_service.errors import TooLarge, UnsupportedMedia

CHUNK = 1024 * 1024
PDF_MAGIC = b"%PDF-"
# A malformed upload is the client's problem: its parse warnings are not the service's logs.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the upload root
    size: int
    sha256: str


def _store(source: BinaryIO, root: Path, max_bytes: int) -> StoredFile:
    name = uuid.uuid4().hex
    relative = f"{name[:2]}/{name}.pdf"
    final = root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_suffix(".part")
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with partial.open("wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        f"The file exceeds {max_bytes // (1024 * 1024)} MB",
                        details={"max_bytes": max_bytes},
                    )
                if len(head) < len(PDF_MAGIC):
                    head += chunk[: len(PDF_MAGIC)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        # The header first: it is what browsers and pypdf look for, and costs no parse.
        if not head.startswith(PDF_MAGIC) or _pages(partial) < 1:
            raise UnsupportedMedia(
                "The file is not a PDF document with at least one page", code="not_a_pdf"
            )
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return StoredFile(path=relative, size=size, sha256=digest.hexdigest())


def _pages(path: Path) -> int:
    """How many pages pypdf finds in the file; 0 when it does not parse (or needs a password
    to open: nobody could read it)."""
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return 0
        count = len(reader.pages)
        if count:  # the tree really holds a page, whatever its /Count claims
            reader.pages[0].mediabox  # noqa: B018
        return count
    except Exception:  # pypdf raises many kinds on malformed input; all mean "not a PDF"
        return 0


async def store_pdf(source: BinaryIO, *, root: Path, max_bytes: int) -> StoredFile:
    """Copies `source` into a new file under `root`; TooLarge / UnsupportedMedia on bad input."""
    return await run_in_threadpool(_store, source, root, max_bytes)


def resolve(root: Path, relative: str) -> Path:
    """The absolute path of a stored file, refusing anything outside the upload root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"stored path escapes the upload root: {relative!r}")
    return path


def remove(root: Path, relative: str | None) -> None:
    if relative:
        resolve(root, relative).unlink(missing_ok=True)


def download_name(title: str, original: str | None) -> str:
    """A filename safe in a header and on any disk: the original's stem, or the title."""
    stem = Path(original).stem if original else title
    stem = unicodedata.normalize("NFC", stem)
    stem = re.sub(r"[^\w\-. ]+", "_", stem).strip(" ._") or "epreuve"
    return f"{stem[:120]}.pdf"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266 / 5987: an ASCII fallback plus the UTF-8 name for accented titles
    (`inline` to show it in the browser rather than save it)."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode() or "epreuve.pdf"
    )
    ascii_name = ascii_name.replace('"', "").replace("\\", "")
    encoded = quote(filename, safe="")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
