"""The `impression` table: one row per recommendation list shown (its `recommendation_id`)."""

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from catalog_service.db import Base
from catalog_service.enum_columns import enum_column
from catalog_service.users.models import User
from shared.enums import Arm, Surface


class Impression(Base):
    __tablename__ = "impression"
    __table_args__ = (
        Index("ix_impression_shown_at", "shown_at"),
        Index("ix_impression_experiment_id", "experiment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    surface: Mapped[Surface] = mapped_column(enum_column(Surface))
    anchor_id: Mapped[int | None] = mapped_column(BigInteger)  # a similar list's épreuve
    # item_ids[p - 1] was shown at position p.
    item_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    source: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[int | None] = mapped_column(BigInteger)
    strategy: Mapped[str | None] = mapped_column(String(32))
    arm: Mapped[Arm | None] = mapped_column(enum_column(Arm))
    experiment_id: Mapped[int | None] = mapped_column(Integer)
    # When the list was answered (not when its row was written, a moment later).
    shown_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
