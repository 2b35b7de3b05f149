"""The `epreuve` table: an exam paper, its stored PDF, counters and rating averages."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog_service.db import Base
from catalog_service.enum_columns import enum_column
from catalog_service.users.models import User
from shared.enums import EpreuveType, Filiere, Niveau


class Epreuve(Base):
    __tablename__ = "epreuve"
    __table_args__ = (
        Index("ix_epreuve_filiere", "filiere"),
        Index("ix_epreuve_niveau", "niveau"),
        Index("ix_epreuve_type", "type"),
        Index("ix_epreuve_matiere", "matiere"),
        Index("ix_epreuve_annee", "annee"),
        Index("ix_epreuve_teacher_id", "teacher_id"),
        Index("ix_epreuve_created_at", "created_at"),
        Index("ix_epreuve_views", "views"),
        Index("ix_epreuve_downloads", "downloads"),
        Index("ix_epreuve_avg_relevance", "avg_relevance"),
    )
    # INSERT/UPDATE … RETURNING the server-side values: no reload round trip.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 (SQLAlchemy reads it)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    matiere: Mapped[str] = mapped_column(String(100))
    filiere: Mapped[Filiere] = mapped_column(enum_column(Filiere))
    niveau: Mapped[Niveau] = mapped_column(enum_column(Niveau))
    type: Mapped[EpreuveType] = mapped_column(enum_column(EpreuveType))
    # Start year of the academic year: 2024 for 2024-2025.
    annee: Mapped[int] = mapped_column(SmallInteger)
    teacher_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(User.id, ondelete="RESTRICT"))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Relative to UPLOAD_DIR; null until a file is attached.
    file_path: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    original_filename: Mapped[str | None] = mapped_column(String(255))
    # Counters and averages are only ever changed by single SQL statements (never in Python).
    views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    downloads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    avg_difficulty: Mapped[float | None] = mapped_column(Float)
    avg_relevance: Mapped[float | None] = mapped_column(Float)
    evaluations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    teacher: Mapped[User] = relationship(lazy="raise")

    @property
    def has_file(self) -> bool:
        return self.file_path is not None
