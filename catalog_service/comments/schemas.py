"""Comment schemas: the author is shown by name only (never their email)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict

from catalog_service.comments.models import MAX_LENGTH, Comment
from shared.text import Text

# Counted as stored: trimmed of spaces and newlines, a leading no-break space kept and counted.
Content = Annotated[str, Text(MAX_LENGTH, min_length=1)]


class CommentWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"content": "Exercice 3 tombe souvent en rattrapage."}]},
    )

    content: Content


class CommentAuthor(BaseModel):
    full_name: str


class CommentRead(BaseModel):
    id: int
    epreuve_id: int
    content: str
    author: CommentAuthor
    # Whether the caller wrote it (so a client knows when to offer edit and delete).
    is_author: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def for_viewer(cls, comment: Comment, viewer_id: int) -> "CommentRead":
        return cls(
            id=comment.id,
            epreuve_id=comment.epreuve_id,
            content=comment.content,
            author=CommentAuthor(full_name=comment.author.full_name),
            is_author=comment.author_id == viewer_id,
            created_at=comment.created_at,
            updated_at=comment.updated_at,
        )
