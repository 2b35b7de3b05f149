"""The refresh tokens already redeemed: each one mints a single new pair (rotation)."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from catalog_service.db import Base


class UsedRefreshToken(Base):
    __tablename__ = "used_refresh_token"
    __table_args__ = (Index("ix_used_refresh_token_expires_at", "expires_at"),)

    jti: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Past this the token is refused as expired anyway: the row may go.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
