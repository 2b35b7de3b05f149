"""The `comment` table: what users say about an épreuve."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog_service.db import Base
from catalog_service.epreuves.models import Epreuve
from catalog_service.users.models import User

MAX_LENGTH = 2000


class Comment(Base):
    __tablename__ = "comment"
    __table_args__ = (
        CheckConstraint(f"char_length(content) BETWEEN 1 AND {MAX_LENGTH}", name="content_length"),
        # The list: one épreuve's comments, newest first.
        Index("ix_comment_epreuve_id_created_at", "epreuve_id", "created_at"),
        Index("ix_comment_author_id", "author_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    epreuve_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(Epreuve.id, ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    author: Mapped[User] = relationship(lazy="raise")
