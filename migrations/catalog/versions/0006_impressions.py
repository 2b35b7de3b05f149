"""Impressions (every recommendation list shown) and the list an interaction names.

Revision ID: 0006_impressions
Revises: 0005_token_revocation
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_impressions"
down_revision: str | None = "0005_token_revocation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "catalog"
SURFACES = "surface IN ('recommendations', 'similar')"
ARMS = "arm IS NULL OR arm IN ('control', 'candidate')"


def upgrade() -> None:
    op.create_table(
        "impression",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=False),
        sa.Column("anchor_id", sa.BigInteger(), nullable=True),
        sa.Column("item_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.BigInteger(), nullable=True),
        sa.Column("strategy", sa.String(length=32), nullable=True),
        sa.Column("arm", sa.String(length=16), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(SURFACES, name=op.f("ck_impression_surface")),
        sa.CheckConstraint(ARMS, name=op.f("ck_impression_arm")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [f"{S}.user.id"],
            name=op.f("fk_impression_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impression")),
        schema=S,
    )
    op.create_index("ix_impression_shown_at", "impression", ["shown_at"], schema=S)
    op.create_index("ix_impression_experiment_id", "impression", ["experiment_id"], schema=S)
    op.add_column(
        "interaction",
        sa.Column("recommendation_id", postgresql.UUID(as_uuid=True), nullable=True),
        schema=S,
    )
    op.create_index(
        "ix_interaction_recommendation_id",
        "interaction",
        ["recommendation_id"],
        schema=S,
        postgresql_where=sa.text("recommendation_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_interaction_recommendation_id", "interaction", schema=S)
    op.drop_column("interaction", "recommendation_id", schema=S)
    op.drop_table("impression", schema=S)
