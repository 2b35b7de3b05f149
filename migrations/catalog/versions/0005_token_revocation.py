"""Token revocation: a per-user token version, and the refresh tokens already redeemed.

Revision ID: 0005_token_revocation
Revises: 0004_email_spelling
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_token_revocation"
down_revision: str | None = "0004_email_spelling"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "catalog"


def upgrade() -> None:
    op.add_column(
        "user",
        sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
        schema=S,
    )
    op.create_table(
        "used_refresh_token",
        sa.Column("jti", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_used_refresh_token")),
        schema=S,
    )
    op.create_index(
        "ix_used_refresh_token_expires_at", "used_refresh_token", ["expires_at"], schema=S
    )


def downgrade() -> None:
    op.drop_table("used_refresh_token", schema=S)
    op.drop_column("user", "token_version", schema=S)
