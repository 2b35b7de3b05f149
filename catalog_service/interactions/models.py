"""The `interaction` table: one row per VIEW, DOWNLOAD, CLICK or RATE."""

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from catalog_service.db import Base
from catalog_service.enum_columns import enum_column
from catalog_service.epreuves.models import Epreuve
from catalog_service.users.models import User
from shared.enums import InteractionKind


class Interaction(Base):
    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_user_id_created_at", "user_id", "created_at"),
        Index("ix_interaction_epreuve_id", "epreuve_id"),
        # Whether a user used an épreuve (exclude_seen, on every recommendation miss).
        Index("ix_interaction_user_id_epreuve_id", "user_id", "epreuve_id"),
        Index("ix_interaction_kind", "kind"),
        Index(
            "ix_interaction_recommendation_id",
            "recommendation_id",
            postgresql_where=text("recommendation_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="CASCADE"))
    epreuve_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(Epreuve.id, ondelete="CASCADE"))
    kind: Mapped[InteractionKind] = mapped_column(enum_column(InteractionKind))
    # `metadata` is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    # 1-5, for RATE interactions that carry one.
    relevance: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The list the client says led here (impressions.attribution decides whether it did).
    recommendation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class InteractionRow(Protocol):
    """What a response is built from: this ORM row, or the write paths' RecordedInteraction."""

    @property
    def id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def epreuve_id(self) -> int: ...
    @property
    def kind(self) -> InteractionKind: ...
    @property
    def meta(self) -> dict[str, Any] | None: ...
    @property
    def relevance(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def recommendation_id(self) -> uuid.UUID | None: ...
