"""The `user` table."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from catalog_service.db import Base
from catalog_service.enum_columns import enum_column
from shared.enums import Filiere, Niveau, Role


class User(Base):
    __tablename__ = "user"
    __table_args__ = (
        Index("ix_user_role", "role"),
        Index("ix_user_niveau_filiere", "niveau", "filiere"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive in effect.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    niveau: Mapped[Niveau | None] = mapped_column(enum_column(Niveau))
    filiere: Mapped[Filiere | None] = mapped_column(enum_column(Filiere))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.STUDENT)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # Carried by every token issued (claim `ver`); bumped to revoke them all (auth.revocation).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
