"""Comments on an épreuve: list and post (any user); edit and delete (author or admin)."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from catalog_service.auth.dependencies import CurrentUser
from catalog_service.comments import service
from catalog_service.comments.schemas import CommentRead, CommentWrite
from catalog_service.dependencies import SessionDep
from catalog_service.epreuves.dependencies import EpreuveDep
from catalog_service.pagination import Page, PageDep
from shared.http_errors import error_responses

router = APIRouter(tags=["comments"], responses=error_responses(400, 401, 403, 404, 422, 503))

CommentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/v1/epreuves/{epreuve_id}/comments", name="list_comments")
async def list_comments(
    epreuve: EpreuveDep, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[CommentRead]:
    """The épreuve's comments, newest first."""
    rows, total = await service.list_for_epreuve(session=session, epreuve_id=epreuve.id, page=page)
    items = [CommentRead.for_viewer(row, user.id) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/v1/epreuves/{epreuve_id}/comments",
    status_code=status.HTTP_201_CREATED,
    name="create_comment",
)
async def create_comment(
    epreuve: EpreuveDep, data: CommentWrite, user: CurrentUser, session: SessionDep
) -> CommentRead:
    comment = await service.create(session=session, author=user, epreuve=epreuve, data=data)
    return CommentRead.for_viewer(comment, user.id)


@router.patch("/v1/comments/{comment_id}", name="update_comment")
async def update_comment(
    comment_id: CommentId, data: CommentWrite, user: CurrentUser, session: SessionDep
) -> CommentRead:
    """Edits the comment's content: its author, or an admin."""
    comment = await service.get_editable(session=session, user=user, comment_id=comment_id)
    comment = await service.update(session=session, comment=comment, data=data)
    return CommentRead.for_viewer(comment, user.id)


@router.delete(
    "/v1/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT, name="delete_comment"
)
async def delete_comment(comment_id: CommentId, user: CurrentUser, session: SessionDep) -> None:
    """Deletes the comment: its author, or an admin."""
    comment = await service.get_editable(session=session, user=user, comment_id=comment_id)
    await service.remove(session=session, comment=comment)
