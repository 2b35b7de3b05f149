"""The recommender's read model: users, items, interactions, evaluations.

Revision ID: 0001_read_model
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_read_model"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "recommender"


def _tz(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("niveau", sa.String(length=8), nullable=True),
        sa.Column("filiere", sa.String(length=16), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _tz("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        schema=S,
    )
    op.create_table(
        "item",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("matiere", sa.String(length=128), nullable=False),
        sa.Column("filiere", sa.String(length=16), nullable=False),
        sa.Column("niveau", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("annee", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _tz("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
        schema=S,
    )
    op.create_table(
        "interaction",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("relevance", sa.SmallInteger(), nullable=True),
        _tz("occurred_at", nullable=False),
        _tz("ingested_at", server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction")),
        sa.UniqueConstraint("event_id", name=op.f("uq_interaction_event_id")),
        schema=S,
    )
    op.create_index(
        "ix_interaction_user_id_occurred_at", "interaction", ["user_id", "occurred_at"], schema=S
    )
    op.create_index("ix_interaction_item_id", "interaction", ["item_id"], schema=S)
    op.create_index("ix_interaction_ingested_at", "interaction", ["ingested_at"], schema=S)
    op.create_table(
        "evaluation",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("difficulty", sa.SmallInteger(), nullable=False),
        sa.Column("relevance", sa.SmallInteger(), nullable=False),
        _tz("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("user_id", "item_id", name=op.f("pk_evaluation")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("evaluation", schema=S)
    op.drop_index("ix_interaction_ingested_at", table_name="interaction", schema=S)
    op.drop_index("ix_interaction_item_id", table_name="interaction", schema=S)
    op.drop_index("ix_interaction_user_id_occurred_at", table_name="interaction", schema=S)
    op.drop_table("interaction", schema=S)
    op.drop_table("item", schema=S)
    op.drop_table("user", schema=S)
