"""PDF files on disk under UPLOAD_DIR: checked by content, size-limited, written atomically."""

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool

from catalog_service.errors import TooLarge, UnsupportedMedia

CHUNK = 1024 * 1024
PDF_MAGIC = b"%PDF-"
# The spec allows trailing bytes (a newline, sometimes junk) after %%EOF.
EOF_WINDOW = 1024


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
    tail = b""
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
                tail = (tail + chunk)[-EOF_WINDOW:]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if not head.startswith(PDF_MAGIC) or b"%%EOF" not in tail:
            raise UnsupportedMedia("The file is not a PDF document", code="not_a_pdf")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return StoredFile(path=relative, size=size, sha256=digest.hexdigest())


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
