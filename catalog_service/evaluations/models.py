"""The `evaluation` table: one difficulty and relevance rating (1-5) per user and épreuve."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalog_service.db import Base
from catalog_service.epreuves.models import Epreuve
from catalog_service.users.models import User


class Evaluation(Base):
    __tablename__ = "evaluation"
    __table_args__ = (
        # Re-rating replaces: the upsert's conflict target; also serves "my evaluations".
        UniqueConstraint("user_id", "epreuve_id"),
        CheckConstraint("difficulty BETWEEN 1 AND 5", name="difficulty_range"),
        CheckConstraint("relevance BETWEEN 1 AND 5", name="relevance_range"),
        # The per-épreuve aggregates are recomputed from these rows on every rating.
        Index("ix_evaluation_epreuve_id", "epreuve_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    epreuve_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(Epreuve.id, ondelete="CASCADE"))
    difficulty: Mapped[int] = mapped_column(SmallInteger)
    relevance: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
