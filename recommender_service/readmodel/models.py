"""Read-model tables (schema `recommender`), filled only by events and the bootstrap export.

No foreign keys: events of different kinds may arrive in any order (an interaction before its
user), and a replica must still be able to store them.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from recommender_service.db import Base


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    niveau: Mapped[str | None] = mapped_column(String(8))
    filiere: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The catalog-side time of the state held here: older events never overwrite it.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Item(Base):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(Text)
    matiere: Mapped[str] = mapped_column(String(128))
    filiere: Mapped[str] = mapped_column(String(16))
    niveau: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    annee: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Interaction(Base):
    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_user_id_occurred_at", "user_id", "occurred_at"),
        Index("ix_interaction_item_id", "item_id"),
        Index("ix_interaction_ingested_at", "ingested_at"),
    )

    # The catalog's interaction id: also unique, so an exported row and its event are one row.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # NULL for rows loaded by the bootstrap export (which carries no event id).
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    relevance: Mapped[int | None] = mapped_column(SmallInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When this replica learnt of it: "new since the model's data snapshot" counts by this.
    ingested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Evaluation(Base):
    __tablename__ = "evaluation"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    difficulty: Mapped[int] = mapped_column(SmallInteger)
    relevance: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Impression(Base):
    """A list the catalog showed, by its id: applying its event a second time counts nothing.
    Only what rotation needs is kept; the catalog owns the full record and the metrics."""

    __tablename__ = "impression"
    __table_args__ = (Index("ix_impression_shown_at", "shown_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    shown_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImpressionCount(Base):
    """How many lists showed an item to a user (rotation damps the ones never engaged with)."""

    __tablename__ = "impression_count"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    shown: Mapped[int] = mapped_column(Integer)
    last_shown_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
