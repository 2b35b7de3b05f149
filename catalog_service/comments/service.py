"""Comments: anyone signed in writes; the author (or an admin) edits and deletes."""

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from catalog_service.comments.models import Comment
from catalog_service.comments.schemas import CommentWrite
from catalog_service.epreuves.models import Epreuve
from catalog_service.errors import Forbidden, NotFound
from catalog_service.pagination import PageParams
from catalog_service.users.models import User
from shared.enums import Role


async def list_for_epreuve(
    *, session: AsyncSession, epreuve_id: int, page: PageParams
) -> tuple[Sequence[Comment], int]:
    total = await session.scalar(
        select(func.count()).select_from(Comment).where(Comment.epreuve_id == epreuve_id)
    )
    rows = await session.scalars(
        select(Comment)
        .options(joinedload(Comment.author))
        .where(Comment.epreuve_id == epreuve_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), total or 0


async def create(
    *, session: AsyncSession, author: User, epreuve: Epreuve, data: CommentWrite
) -> Comment:
    comment = Comment(epreuve_id=epreuve.id, author_id=author.id, content=data.content)
    session.add(comment)
    await session.commit()
    await session.refresh(comment)
    comment.author = author
    return comment


async def get_editable(*, session: AsyncSession, user: User, comment_id: int) -> Comment:
    """The comment, when `user` may change it: its author or an admin (else 403; 404)."""
    comment = await session.scalar(
        select(Comment)
        .options(joinedload(Comment.author))
        .join(Epreuve, Epreuve.id == Comment.epreuve_id)
        .where(Comment.id == comment_id, Epreuve.is_active)
    )
    if comment is None:
        raise NotFound(f"Comment {comment_id} not found", code="comment_not_found")
    if comment.author_id != user.id and user.role is not Role.ADMIN:
        raise Forbidden("Only the author or an admin may change this comment")
    return comment


async def update(*, session: AsyncSession, comment: Comment, data: CommentWrite) -> Comment:
    comment.content = data.content
    comment.updated_at = func.now()
    await session.commit()
    await session.refresh(comment, attribute_names=["updated_at"])
    return comment


async def remove(*, session: AsyncSession, comment: Comment) -> None:
    await session.execute(delete(Comment).where(Comment.id == comment.id))
    await session.commit()
