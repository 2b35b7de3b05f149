"""Impressions in the read model: the lists already counted, and per (user, item) how often
it was shown (rotation).

Revision ID: 0004_impressions
Revises: 0003_activation_and_lease
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_impressions"
down_revision: str | None = "0003_activation_and_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "recommender"


def upgrade() -> None:
    op.create_table(
        "impression",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impression")),
        schema=S,
    )
    op.create_index("ix_impression_shown_at", "impression", ["shown_at"], schema=S)
    op.create_table(
        "impression_count",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("last_shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "item_id", name=op.f("pk_impression_count")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("impression_count", schema=S)
    op.drop_table("impression", schema=S)
