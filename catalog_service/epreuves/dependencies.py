"""EpreuveDep: the active épreuve named by the path, or 404, loaded once per request;
PdfUploadDep: the uploaded file with its name checked."""

from dataclasses import dataclass
from typing import Annotated, BinaryIO

from fastapi import Depends, File, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from catalog_service.dependencies import IdPath, SessionDep
from catalog_service.epreuves import service
from catalog_service.epreuves.models import Epreuve
from shared.text import Line


async def get_epreuve(epreuve_id: IdPath, session: SessionDep) -> Epreuve:
    return await service.get_active(session=session, epreuve_id=epreuve_id)


EpreuveDep = Annotated[Epreuve, Depends(get_epreuve)]


@dataclass(frozen=True)
class PdfUpload:
    """The multipart `file` part, its client-side name under the text policy."""

    file: BinaryIO
    filename: str | None


_FILENAME = TypeAdapter(Annotated[str, Line(255, min_length=0)])


async def get_pdf_upload(
    file: Annotated[UploadFile, File(description="The PDF (checked by content)")],
) -> PdfUpload:
    try:
        name = _FILENAME.validate_python(file.filename) if file.filename else None
    except ValidationError as exc:
        # The same 422 as a bad form field, naming the part.
        raise RequestValidationError(
            [{**error, "loc": ("body", "file", "filename")} for error in exc.errors()]
        ) from None
    return PdfUpload(file=file.file, filename=name or None)


PdfUploadDep = Annotated[PdfUpload, Depends(get_pdf_upload)]
