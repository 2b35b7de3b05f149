"""EpreuveDep: the active épreuve named by the path, or 404, loaded once per request."""

from typing import Annotated

from fastapi import Depends

from catalog_service.dependencies import IdPath, SessionDep
from catalog_service.epreuves import service
from catalog_service.epreuves.models import Epreuve


async def get_epreuve(epreuve_id: IdPath, session: SessionDep) -> Epreuve:
    return await service.get_active(session=session, epreuve_id=epreuve_id)


EpreuveDep = Annotated[Epreuve, Depends(get_epreuve)]
